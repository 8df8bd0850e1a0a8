//! The `grok` filter (placeholder until implemented).

use super::{BuildContext, BuildError, Filter, FilterOutcome};
use crate::event::Event;
use serde::Deserialize;

/// Options of the `grok` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrokConfig {}

/// The `grok` filter.
pub struct GrokFilter;

impl GrokFilter {
    /// Builds the filter.
    pub fn build(config: &GrokConfig, context: &BuildContext) -> Result<GrokFilter, BuildError> {
        todo!("{config:?} {context:?}")
    }
}

impl Filter for GrokFilter {
    fn process(&mut self, event: &mut Event) -> FilterOutcome {
        todo!("{event:?}")
    }
}

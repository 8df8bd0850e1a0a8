//! The `drop` filter (placeholder until implemented).

use super::{BuildContext, BuildError, Filter, FilterOutcome};
use crate::event::Event;
use serde::Deserialize;

/// Options of the `drop` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropConfig {}

/// The `drop` filter.
pub struct DropFilter;

impl DropFilter {
    /// Builds the filter.
    pub fn build(config: &DropConfig, context: &BuildContext) -> Result<DropFilter, BuildError> {
        todo!("{config:?} {context:?}")
    }
}

impl Filter for DropFilter {
    fn process(&mut self, event: &mut Event) -> FilterOutcome {
        todo!("{event:?}")
    }
}

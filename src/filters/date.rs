//! The `date` filter (placeholder until implemented).

use super::{BuildContext, BuildError, Filter, FilterOutcome};
use crate::event::Event;
use serde::Deserialize;

/// Options of the `date` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateConfig {}

/// The `date` filter.
pub struct DateFilter;

impl DateFilter {
    /// Builds the filter.
    pub fn build(config: &DateConfig, context: &BuildContext) -> Result<DateFilter, BuildError> {
        todo!("{config:?} {context:?}")
    }
}

impl Filter for DateFilter {
    fn process(&mut self, event: &mut Event) -> FilterOutcome {
        todo!("{event:?}")
    }
}

//! The `mutate` filter (placeholder until implemented).

use super::{BuildContext, BuildError, Filter, FilterOutcome};
use crate::event::Event;
use serde::Deserialize;

/// Options of the `mutate` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutateConfig {}

/// The `mutate` filter.
pub struct MutateFilter;

impl MutateFilter {
    /// Builds the filter.
    pub fn build(
        config: &MutateConfig,
        context: &BuildContext,
    ) -> Result<MutateFilter, BuildError> {
        todo!("{config:?} {context:?}")
    }
}

impl Filter for MutateFilter {
    fn process(&mut self, event: &mut Event) -> FilterOutcome {
        todo!("{event:?}")
    }
}

//! The `useragent` filter (placeholder until implemented).

use super::{BuildContext, BuildError, Filter, FilterOutcome};
use crate::event::Event;
use serde::Deserialize;

/// Options of the `useragent` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UseragentConfig {}

/// The `useragent` filter.
pub struct UseragentFilter;

impl UseragentFilter {
    /// Builds the filter.
    pub fn build(
        config: &UseragentConfig,
        context: &BuildContext,
    ) -> Result<UseragentFilter, BuildError> {
        todo!("{config:?} {context:?}")
    }
}

impl Filter for UseragentFilter {
    fn process(&mut self, event: &mut Event) -> FilterOutcome {
        todo!("{event:?}")
    }
}

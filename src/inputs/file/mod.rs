//! The `file` input (placeholder until implemented).

use super::{Input, InputBuildContext, InputContext, InputError, InputFuture};
use serde::Deserialize;

/// Options of the `file` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInputConfig {}

impl FileInputConfig {
    /// Whether the input ends by itself (`mode = "read"`).
    pub fn is_finite(&self) -> bool {
        todo!()
    }
}

/// The `file` input.
pub struct FileInput;

impl FileInput {
    /// Builds the input.
    pub fn build(
        config: &FileInputConfig,
        context: &InputBuildContext,
    ) -> Result<FileInput, InputError> {
        todo!("{config:?} {context:?}")
    }
}

impl Input for FileInput {
    fn run(self: Box<Self>, context: InputContext) -> InputFuture {
        Box::pin(async move { todo!("{}", context.id) })
    }
}

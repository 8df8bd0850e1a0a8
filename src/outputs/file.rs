//! The `file` output (placeholder until implemented).

use super::{Output, OutputBuildContext, OutputContext, OutputError, OutputFuture};
use serde::Deserialize;

/// Options of the `file` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutputConfig {}

/// The `file` output.
pub struct FileOutput;

impl FileOutput {
    /// Builds the output.
    pub fn build(
        config: &FileOutputConfig,
        context: &OutputBuildContext,
    ) -> Result<FileOutput, OutputError> {
        todo!("{config:?} {context:?}")
    }
}

impl Output for FileOutput {
    fn run(self: Box<Self>, context: OutputContext) -> OutputFuture {
        Box::pin(async move { todo!("{}", context.id) })
    }
}

//! The `stdout` output (placeholder until implemented).

use super::{Output, OutputBuildContext, OutputContext, OutputError, OutputFuture};
use serde::Deserialize;

/// Options of the `stdout` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutOutputConfig {}

/// The `stdout` output.
pub struct StdoutOutput;

impl StdoutOutput {
    /// Builds the output.
    pub fn build(
        config: &StdoutOutputConfig,
        context: &OutputBuildContext,
    ) -> Result<StdoutOutput, OutputError> {
        todo!("{config:?} {context:?}")
    }
}

impl Output for StdoutOutput {
    fn run(self: Box<Self>, context: OutputContext) -> OutputFuture {
        Box::pin(async move { todo!("{}", context.id) })
    }
}

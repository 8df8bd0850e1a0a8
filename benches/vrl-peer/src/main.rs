//! A peer for `scripts/bench`: each line of stdin goes through the VRL program Vector's
//! `remap` transform would run for nginx logs, `. = parse_nginx_log!(.message, "combined")`,
//! with VRL's own runtime (the library Vector embeds), and each event is written to stdout as
//! one JSON line. A line that does not parse goes out as it came (`{"message": …}`), as
//! Vector's remap passes it on at its default `drop_on_error = false`; their number is
//! reported at the end.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use vrl::compiler::runtime::Runtime;
use vrl::compiler::{TargetValue, TimeZone, state::RuntimeState};
use vrl::value::{Secrets, Value};

const PROGRAM: &str = r#". = parse_nginx_log!(.message, "combined")"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let compiled = vrl::compiler::compile(PROGRAM, &vrl::stdlib::all())
        .map_err(|diagnostics| format!("{PROGRAM}: {diagnostics:?}"))?;
    let timezone = TimeZone::default();
    let mut runtime = Runtime::new(RuntimeState::default());
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut failed = 0u64;
    for line in stdin.split(b'\n') {
        let line = line?;
        let mut event = BTreeMap::new();
        event.insert("message".into(), Value::Bytes(line.into()));
        let mut target = TargetValue {
            value: Value::Object(event),
            metadata: Value::Object(BTreeMap::new()),
            secrets: Secrets::default(),
        };
        if runtime
            .resolve(&mut target, &compiled.program, &timezone)
            .is_err()
        {
            failed += 1;
        }
        runtime.clear();
        serde_json::to_writer(&mut out, &target.value)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if failed > 0 {
        eprintln!("vrl-peer: {failed} lines did not parse");
    }
    Ok(())
}

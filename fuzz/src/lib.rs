//! What the fuzz targets share: the check that an event's JSON is what it holds.

use logpipe::event::Event;
use serde_json::Value;

/// Writes `event` as logpipe does and asserts that it is one valid JSON object holding the
/// event's fields. Floats compare within a few units in the last place: serde_json (without
/// its `float_roundtrip` feature) may read a float one ulp off, and that is all it means.
pub fn assert_valid_json(event: &Event) {
    let mut json = Vec::new();
    event.write_json(&mut json);
    let parsed: Value = serde_json::from_slice(&json).unwrap_or_else(|error| {
        panic!("invalid JSON {:?}: {error}", String::from_utf8_lossy(&json))
    });
    let fields = Value::Object(event.to_fields());
    assert!(
        same(&parsed, &fields),
        "the JSON {parsed} is not the event {fields}"
    );
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x != y => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()),
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same(vx, vy))
        }
        _ => a == b,
    }
}

//! The `json` codec: one JSON object per line; anything else is kept as `message`, tagged `_jsonparsefailure`.

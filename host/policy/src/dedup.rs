//! Dedup keys: the sha256 (hex) of the canonical JSON of a task's arguments, so the same call
//! published twice gets the same key whatever the key order or whitespace. The top-level `extra`
//! object is not an argument and is left out (its `task_id` and `publish_time` differ on every
//! publish). An explicit `extra.dedup_key` replaces this key (see [`crate::message`]).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The dedup key of a message's arguments: sha256 hex of their canonical JSON.
pub fn dedup_key(args: &Value) -> String {
    match args {
        Value::Object(map) => dedup_key_of_args(map),
        other => {
            let mut canonical = Vec::with_capacity(128);
            write_canonical(&mut canonical, other);
            hex::encode(Sha256::digest(&canonical))
        }
    }
}

/// [`dedup_key`] of a top-level object given as its map (no clone needed).
pub fn dedup_key_of_args(args: &Map<String, Value>) -> String {
    let mut canonical = Vec::with_capacity(128);
    write_object(&mut canonical, args.iter().filter(|(k, _)| *k != "extra"));
    hex::encode(Sha256::digest(&canonical))
}

/// Canonical JSON: no whitespace, object keys sorted by their UTF-8 bytes at every depth, numbers
/// and strings as serde_json writes them.
fn write_canonical(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => write_object(out, map.iter()),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        scalar => write_scalar(out, scalar),
    }
}

fn write_object<'a>(out: &mut Vec<u8>, entries: impl Iterator<Item = (&'a String, &'a Value)>) {
    // Sorted here rather than relying on serde_json's map order, which changes to insertion
    // order when any crate in the build enables its `preserve_order` feature.
    let mut entries: Vec<_> = entries.collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_scalar(out, &Value::String(key.clone()));
        out.push(b':');
        write_canonical(out, value);
    }
    out.push(b'}');
}

fn write_scalar(out: &mut Vec<u8>, scalar: &Value) {
    // Writing a scalar JSON value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, scalar);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: Value =
            serde_json::from_str(r#"{"x": 1, "y": {"b": [1, 2], "a": "s"}}"#).expect("valid json");
        let b: Value =
            serde_json::from_str(r#"{"y":{"a":"s","b":[1,2]},"x":1}"#).expect("valid json");
        assert_eq!(dedup_key(&a), dedup_key(&b));
    }

    #[test]
    fn extra_is_ignored_at_the_top_only() {
        let plain = json!({"x": 1});
        let stamped = json!({"x": 1, "extra": {"task_id": "t1", "publish_time": 5}});
        assert_eq!(dedup_key(&plain), dedup_key(&stamped));
        let nested = json!({"x": {"extra": 1}});
        assert_ne!(dedup_key(&nested), dedup_key(&json!({"x": {}})));
    }

    #[test]
    fn different_arguments_differ() {
        assert_ne!(dedup_key(&json!({"x": 1})), dedup_key(&json!({"x": 2})));
        assert_ne!(dedup_key(&json!({"x": 1})), dedup_key(&json!({"x": "1"})));
        assert_ne!(
            dedup_key(&json!({"x": [1, 2]})),
            dedup_key(&json!({"x": [2, 1]}))
        );
    }

    #[test]
    fn key_is_sha256_hex_of_the_canonical_text() {
        let key = dedup_key(&json!({"b": 2, "a": 1}));
        let want = hex::encode(Sha256::digest(br#"{"a":1,"b":2}"#));
        assert_eq!(key, want);
        assert_eq!(key.len(), 64);
    }

    #[test]
    fn strings_are_escaped_canonically() {
        let key = dedup_key(&json!({"k\"ey": "line\nbreak é"}));
        let want = hex::encode(Sha256::digest(
            "{\"k\\\"ey\":\"line\\nbreak é\"}".as_bytes(),
        ));
        assert_eq!(key, want);
    }
}

use serde_json::json;

use super::*;

fn ok(body: &str) -> ParsedMessage {
    parse(body.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES).unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn err(body: &str) -> String {
    parse(body.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES)
        .expect_err(body)
        .to_string()
}

#[test]
fn bare_arguments_are_a_message() {
    let m = ok(r#"{"x": 1, "y": 2}"#);
    assert_eq!(Value::Object(m.args), json!({"x": 1, "y": 2}));
    assert_eq!(m.extra, Extra::default());
    assert_eq!(m.raw_extra, None);
}

#[test]
fn non_objects_are_refused_naming_what_they_are() {
    assert!(err("[1, 2]").contains("not an array"));
    assert!(err("\"hi\"").contains("not a string"));
    assert!(err("42").contains("not a number"));
    assert!(err("null").contains("not null"));
    assert!(err(r#"{"x": 1, "extra": [1]}"#).contains("extra must be a json object, not an array"));
}

#[test]
fn malformed_json_reports_line_and_column() {
    let e = parse(b"{\"x\": 1,\n  \"y\": }", 100).expect_err("malformed");
    let MessageError::Malformed { line, column, .. } = &e else {
        panic!("expected malformed, got {e:?}");
    };
    assert_eq!((*line, *column), (2, 8));
    assert!(e.to_string().contains("line 2 column 8"), "{e}");
    assert!(err("").contains("malformed json"));
    assert!(err("{\"x\": \"\u{1}\"}").contains("malformed json"));
}

#[test]
fn oversized_bodies_are_refused_before_parsing() {
    let e = parse(b"{\"x\": 1}", 4).expect_err("too large").to_string();
    assert_eq!(e, "message is 8 bytes, over the limit of 4 bytes");
    assert!(parse(b"{\"x\": 1}", 8).is_ok());
}

#[test]
fn extra_fields_are_read_and_unknown_ones_kept() {
    let m = ok(r#"{"a": 1, "extra": {
        "task_id": "t-1", "publish_time": "2026-01-01T00:00:00Z", "countdown": 1.5,
        "eta": 1767225600500, "expire_at": "2026-01-02T00:00:00+01:00", "max_retries": 0,
        "timeout_ms": 250, "fuel": 1000, "memory_mb": 16, "priority": 9, "dedup_key": "k",
        "reply": true, "future_field": {"v": 2}
    }}"#);
    let want = Extra {
        task_id: Some("t-1".into()),
        publish_time_ms: Some(1_767_225_600_000),
        countdown: Some(Duration::from_millis(1500)),
        eta_ms: Some(1_767_225_600_500),
        expire_at_ms: Some(1_767_308_400_000),
        max_retries: Some(0),
        timeout: Some(Duration::from_millis(250)),
        fuel: Some(1000),
        memory_mb: Some(16),
        priority: Some(9),
        dedup_key: Some("k".into()),
        reply: true,
    };
    assert_eq!(m.extra, want);
    let raw = m.raw_extra.expect("extra present");
    assert_eq!(raw.get("future_field"), Some(&json!({"v": 2})));
    assert_eq!(Value::Object(m.args), json!({"a": 1}));
}

#[test]
fn bad_extra_values_name_the_key_and_value() {
    let cases = [
        (
            r#"{"extra": {"priority": 10}}"#,
            "extra.priority = 10: must be an integer from 0 to 9",
        ),
        (r#"{"extra": {"priority": -1}}"#, "extra.priority = -1"),
        (
            r#"{"extra": {"priority": "high"}}"#,
            "extra.priority = \"high\"",
        ),
        (r#"{"extra": {"countdown": -5}}"#, "extra.countdown = -5"),
        (
            r#"{"extra": {"countdown": "soon"}}"#,
            "extra.countdown = \"soon\"",
        ),
        (
            r#"{"extra": {"eta": "tomorrow"}}"#,
            "extra.eta = \"tomorrow\": must be RFC 3339",
        ),
        (
            r#"{"extra": {"timeout_ms": 0}}"#,
            "extra.timeout_ms = 0: must be a positive integer",
        ),
        (
            r#"{"extra": {"max_retries": 1.5}}"#,
            "extra.max_retries = 1.5",
        ),
        (
            r#"{"extra": {"task_id": ""}}"#,
            "extra.task_id: invalid task id \"\": it is empty",
        ),
        (
            r#"{"extra": {"task_id": "a b"}}"#,
            "extra.task_id: invalid task id \"a b\"",
        ),
        (
            r#"{"extra": {"task_id": "a\nb"}}"#,
            "extra.task_id: invalid task id \"a\\nb\"",
        ),
        (r#"{"extra": {"task_id": 7}}"#, "extra.task_id = 7"),
        (
            r#"{"extra": {"dedup_key": "k\u0000"}}"#,
            "extra.dedup_key: invalid dedup key",
        ),
    ];
    for (body, want) in cases {
        let e = err(body);
        assert!(e.contains(want), "{body}: {e}");
    }
}

#[test]
fn nulls_count_as_absent() {
    let m = ok(r#"{"extra": {"priority": null, "eta": null}}"#);
    assert_eq!(m.extra, Extra::default());
    let m = ok(r#"{"x": 1, "extra": null}"#);
    assert_eq!(m.extra, Extra::default());
}

#[test]
fn countdown_accepts_duration_text_and_eta_wins() {
    let m = ok(r#"{"extra": {"countdown": "2m", "publish_time": 1000}}"#);
    assert_eq!(m.extra.countdown, Some(Duration::from_secs(120)));
    assert_eq!(
        m.not_before_ms(5),
        Some(121_000),
        "counted from the publish time"
    );
    let m = ok(r#"{"extra": {"countdown": 3}}"#);
    assert_eq!(
        m.not_before_ms(5),
        Some(3005),
        "counted from now without one"
    );
    let m = ok(r#"{"extra": {"countdown": 3, "eta": 42}}"#);
    assert_eq!(m.not_before_ms(5), Some(42));
    assert_eq!(ok("{}").not_before_ms(5), None);
}

#[test]
fn dedup_key_uses_the_explicit_key_or_the_arguments() {
    let a = ok(r#"{"y": [1], "x": 1, "extra": {"task_id": "a"}}"#);
    let b = ok(r#"{"x": 1, "y": [1], "extra": {"task_id": "b"}}"#);
    assert_eq!(a.dedup_key(), b.dedup_key());
    assert_eq!(
        a.dedup_key(),
        crate::dedup::dedup_key(&json!({"x": 1, "y": [1]}))
    );
    assert_eq!(
        ok(r#"{"x": 1, "extra": {"dedup_key": "mine"}}"#).dedup_key(),
        "mine"
    );
}

#[test]
fn stamp_splices_into_a_bare_body_byte_for_byte() {
    let body = br#" {"b": 2, "a": 1}"#;
    let out = stamp(body, "t-9", 1234).expect("valid body");
    let text = String::from_utf8(out).expect("utf-8");
    assert_eq!(
        text,
        r#" {"extra":{"publish_time":1234,"task_id":"t-9"},"b": 2, "a": 1}"#.replace(
            r#"{"publish_time":1234,"task_id":"t-9"}"#,
            &json_extra("t-9", 1234)
        )
    );
    let m = ok(&text);
    assert_eq!(m.extra.task_id.as_deref(), Some("t-9"));
    assert_eq!(m.extra.publish_time_ms, Some(1234));
    assert_eq!(Value::Object(m.args), json!({"a": 1, "b": 2}));
}

/// The extra object as serde_json writes it (key order depends on its features).
fn json_extra(task_id: &str, publish_time: u64) -> String {
    let mut map = Map::new();
    map.insert("task_id".into(), json!(task_id));
    map.insert("publish_time".into(), json!(publish_time));
    Value::Object(map).to_string()
}

#[test]
fn stamp_of_an_empty_object() {
    let out = stamp(b"{}", "t", 1).expect("valid body");
    let m = ok(std::str::from_utf8(&out).expect("utf-8"));
    assert!(m.args.is_empty());
    assert_eq!(m.extra.task_id.as_deref(), Some("t"));
}

#[test]
fn reply_is_a_flag_absent_means_no_and_stamp_sets_it() {
    assert!(!ok(r#"{"x": 1}"#).extra.reply);
    let err = parse(br#"{"extra": {"reply": "yes"}}"#, 1 << 20).expect_err("not a bool");
    assert!(err.to_string().contains("extra.reply"), "{err}");
    let m = ok(r#"{"x": 1}"#);
    let stamped = m.stamp_reply(br#"{"x": 1}"#, "t", 5, true);
    assert!(
        ok(std::str::from_utf8(&stamped).expect("utf-8"))
            .extra
            .reply
    );
    let unstamped = m.stamp_reply(br#"{"x": 1}"#, "t", 5, false);
    assert!(
        !ok(std::str::from_utf8(&unstamped).expect("utf-8"))
            .extra
            .reply
    );
}

#[test]
fn stamp_keeps_the_users_extra_keys_and_publish_time() {
    let body = br#"{"x": 1, "extra": {"priority": 3, "publish_time": 77, "custom": "kept", "task_id": "old"}}"#;
    let out = stamp(body, "new", 1234).expect("valid body");
    let v: Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(
        v,
        json!({"x": 1, "extra": {"priority": 3, "publish_time": 77, "custom": "kept", "task_id": "new"}})
    );
    let out = stamp(br#"{"x": 1, "extra": null}"#, "t", 5).expect("valid body");
    let v: Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(
        v,
        json!({"x": 1, "extra": {"task_id": "t", "publish_time": 5}})
    );
}

#[test]
fn stamp_refuses_what_parse_refuses() {
    assert!(matches!(
        stamp(b"[]", "t", 1),
        Err(MessageError::NotObject { .. })
    ));
}

mod properties {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::super::*;
    use crate::names::is_valid_task_id;

    /// Arbitrary JSON, nested a few levels, with `extra`-like keys likely.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            // Floats whose text reads back as the same number: serde_json (without its
            // `float_roundtrip` feature) may read the last digit of others differently, which
            // `stamp`'s re-serialisation would then show. Tracked in the closing note.
            any::<f64>()
                .prop_filter("round-trips through JSON text", |f| {
                    serde_json::to_string(f)
                        .ok()
                        .and_then(|t| serde_json::from_str::<f64>(&t).ok())
                        == Some(*f)
                })
                .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            "[ -~]{0,140}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            let key = prop_oneof![
                Just("extra".to_owned()),
                Just("task_id".to_owned()),
                Just("dedup_key".to_owned()),
                Just("priority".to_owned()),
                Just("timeout_ms".to_owned()),
                Just("countdown".to_owned()),
                Just("eta".to_owned()),
                any::<String>(),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&body, DEFAULT_MAX_MESSAGE_BYTES);
        }

        #[test]
        fn arbitrary_json_never_panics_and_accepted_ids_are_key_safe(value in json()) {
            let body = serde_json::to_vec(&value).unwrap_or_default();
            if let Ok(m) = parse(&body, DEFAULT_MAX_MESSAGE_BYTES) {
                if let Some(id) = &m.extra.task_id {
                    prop_assert!(is_valid_task_id(id), "{id:?}");
                }
                if let Some(key) = &m.extra.dedup_key {
                    prop_assert!(crate::names::validate_dedup_key(key).is_ok());
                }
                let stamped = m.stamp(&body, "t-1", 5);
                let again = parse(&stamped, usize::MAX).map_err(|e| {
                    TestCaseError::fail(format!("stamping broke a valid message: {e}"))
                })?;
                prop_assert_eq!(again.extra.task_id.as_deref(), Some("t-1"));
                prop_assert_eq!(again.args, m.args);
            }
        }

        #[test]
        fn any_extra_task_id_is_accepted_exactly_when_the_rule_accepts_it(id in any::<String>()) {
            let body = serde_json::json!({"extra": {"task_id": id.clone()}}).to_string();
            let parsed = parse(body.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES);
            prop_assert_eq!(parsed.is_ok(), is_valid_task_id(&id));
        }
    }
}

use proptest::prelude::*;

use super::*;

#[test]
fn ordinary_queue_names_pass() {
    for name in [
        "add",
        "a",
        "image-resize",
        "v2.thumbnails",
        "A_b-C.9",
        "x.dlq",
        ".hidden",
    ] {
        assert_eq!(validate_queue_name(name), Ok(()), "{name}");
    }
    assert!(is_valid_queue_name(&"q".repeat(MAX_QUEUE_NAME_LEN)));
}

#[test]
fn bad_queue_names_say_why_and_show_a_bounded_preview() {
    let cases = [
        ("", "empty"),
        (".", "only dots"),
        ("..", "only dots"),
        ("...", "only dots"),
        ("a/b", "outside"),
        ("a%2Fb", "outside"),
        ("a:b", "outside"),
        ("{a}", "outside"),
        ("a b", "outside"),
        ("nul\0", "outside"),
        ("é", "outside"),
        ("wasmboost.x.dlq", "reserved"),
        ("wasmboost.x.delay.100", "reserved"),
        ("amq.gen-1", "reserved"),
    ];
    for (name, why) in cases {
        let err = validate_queue_name(name).expect_err(name);
        assert_eq!(err.code(), "bad_queue_name");
        let text = err.to_string();
        assert!(text.contains(why), "{name:?}: {text}");
        assert!(text.contains(QUEUE_NAME_RULE), "{text}");
    }
    let long = "q".repeat(10_000);
    let text = validate_queue_name(&long)
        .expect_err("too long")
        .to_string();
    assert!(text.contains("too long") && text.len() < 400, "{text}");
    let text = validate_queue_name("a\nb")
        .expect_err("newline")
        .to_string();
    assert!(
        !text.contains('\n'),
        "control characters are escaped: {text}"
    );
}

#[test]
fn task_ids_are_printable_ascii() {
    for id in [
        "t-1",
        "0190a0b2-7c3e-7f00-8000-000000000000",
        "stream",
        "binding",
        "a:b{c}/d",
        "~!",
    ] {
        assert_eq!(validate_task_id(id), Ok(()), "{id}");
    }
    assert!(is_valid_task_id(&"x".repeat(MAX_TASK_ID_LEN)));
    for id in [
        "",
        "a b",
        "tab\t",
        "nl\n",
        "nul\0",
        "del\x7f",
        "zero\u{200b}width",
        "rtl\u{202e}",
        "é",
        &"x".repeat(MAX_TASK_ID_LEN + 1),
    ] {
        let err = validate_task_id(id).expect_err(id);
        assert_eq!(err.code(), "bad_task_id");
        assert!(err.to_string().contains(TASK_ID_RULE));
    }
}

#[test]
fn dedup_keys_may_hold_spaces_but_not_control_characters() {
    assert_eq!(validate_dedup_key("order 42 / mail"), Ok(()));
    assert_eq!(validate_dedup_key("ключ"), Ok(()));
    for (key, why) in [
        (String::new(), "empty"),
        ("a\nb".to_owned(), "control character"),
        ("k".repeat(MAX_DEDUP_KEY_BYTES + 1), "too long"),
    ] {
        let err = validate_dedup_key(&key).expect_err(&key);
        assert!(
            matches!(&err, NameError::DedupKey { why: w, .. } if w.contains(why)),
            "{key:?}: {err:?}"
        );
        assert_eq!(err.code(), "bad_dedup_key");
    }
}

#[test]
fn previews_cut_on_a_character_boundary() {
    let name = "é".repeat(100);
    let text = validate_queue_name(&name)
        .expect_err("non-ascii")
        .to_string();
    assert!(text.contains("…[200 bytes]"), "{text}");
}

/// Bytes that may separate or delimit a storage name in some backend: a valid name never has one.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ':' | '{' | '}' | '/' | '\\' | '*' | '?' | '[' | ']' | '\0'
    ) || c.is_whitespace()
}

proptest! {
    #[test]
    fn any_string_is_judged_without_panicking(s in any::<String>()) {
        let _ = validate_queue_name(&s);
        let _ = validate_task_id(&s);
        let _ = validate_dedup_key(&s);
    }

    #[test]
    fn accepted_queue_names_are_one_safe_key_segment(s in "[ -~]{0,140}|[A-Za-z0-9_.-]{0,140}") {
        if is_valid_queue_name(&s) {
            prop_assert!(!s.is_empty() && s.len() <= MAX_QUEUE_NAME_LEN);
            prop_assert!(!s.chars().any(is_separator), "{s:?}");
            prop_assert!(s.chars().any(|c| c != '.'));
            prop_assert!(!s.starts_with("wasmboost.") && !s.starts_with("amq."));
        } else {
            prop_assert_eq!(validate_queue_name(&s).map_err(|e| e.code()), Err("bad_queue_name"));
        }
    }

    #[test]
    fn the_queue_alphabet_minus_the_exceptions_is_accepted(s in "[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}") {
        prop_assume!(!s.starts_with("amq.") && !s.starts_with("wasmboost."));
        prop_assert!(is_valid_queue_name(&s), "{s:?}");
    }

    #[test]
    fn accepted_task_ids_are_bounded_printable_ascii(s in any::<String>()) {
        if is_valid_task_id(&s) {
            prop_assert!(!s.is_empty() && s.len() <= MAX_TASK_ID_LEN);
            prop_assert!(s.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{s:?}");
        }
    }

    #[test]
    fn printable_ascii_ids_up_to_the_cap_are_accepted(s in "[!-~]{1,128}") {
        prop_assert!(is_valid_task_id(&s));
    }

    #[test]
    fn error_messages_never_carry_a_line_break(s in any::<String>()) {
        for err in [validate_queue_name(&s).err(), validate_task_id(&s).err()].into_iter().flatten() {
            let text = err.to_string();
            prop_assert!(!text.contains('\n') && !text.contains('\r'), "{text:?}");
            prop_assert!(text.len() < 1_000);
        }
    }
}

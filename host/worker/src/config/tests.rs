use std::time::Duration;

use super::*;

#[test]
fn empty_config_is_all_defaults() {
    let c = Config::parse("").expect("empty config is valid");
    assert_eq!(c, Config::default());
    assert_eq!(c.broker.kind(), "embedded");
    assert_eq!(c.host.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.host.shutdown_grace.0, DEFAULT_SHUTDOWN_GRACE);
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    for (text, key) in [
        ("[host]\nlisten_addr = \"x\"", "listen_addr"),
        ("[defaults]\nconcurency = 5", "concurency"),
        ("[queues.a]\nqps = 1\nbogus = 2", "bogus"),
        ("[defaults.backoff]\nbase = \"1s\"\nfactor = 2", "factor"),
        ("surprise = 1", "surprise"),
    ] {
        let err = Config::parse(text).expect_err(text).to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn queues_merge_over_defaults() {
    let c = Config::parse(
        r#"
        [defaults]
        concurrency = 10
        timeout = "5s"
        backoff = { base = "2s", jitter = 0.5 }

        [queues.emails]
        qps = 0.5
        backoff = { max = "1m" }
        window = "mon-fri 09:00-17:00"
        "#,
    )
    .expect("valid");
    let q = c.queue("emails");
    assert_eq!(q.concurrency, Some(10));
    assert_eq!(q.qps, Some(0.5));
    assert_eq!(q.timeout.map(|d| d.0), Some(Duration::from_secs(5)));
    let b = q.backoff.expect("merged backoff");
    assert_eq!(b.base.map(|d| d.0), Some(Duration::from_secs(2)));
    assert_eq!(b.max.map(|d| d.0), Some(Duration::from_secs(60)));
    assert_eq!(b.jitter, Some(0.5));
    assert_eq!(c.queue("other").qps, None);
}

#[test]
fn bad_values_name_their_key() {
    for (text, key) in [
        ("[queues.a]\nqps = 0", "queues.a.qps"),
        ("[queues.a]\nqps = -3.0", "queues.a.qps"),
        ("[defaults]\nconcurrency = 0", "defaults.concurrency"),
        (
            "[queues.a]\nwindow = \"funday 09:00-17:00\"",
            "queues.a.window",
        ),
        ("[queues.a]\nretry_on = [\"sometimes\"]", "sometimes"),
        ("[queues.a]\nretry_on = [\"retry\"]", "queues.a.retry_on"),
        (
            "[queues.a]\nbackoff = { base = \"1m\", max = \"1s\" }",
            "queues.a.backoff.max",
        ),
        ("[queues.a]\nmax_retries = 1001", "queues.a.max_retries"),
        (
            "[queues.a]\ntimeout = \"10s\"\nmessage_ceiling = { timeout = \"1s\" }",
            "queues.a.message_ceiling.timeout",
        ),
        (
            "[queues.a]\nbackoff = { jitter = 2.0 }",
            "queues.a.backoff.jitter",
        ),
        ("[queues.a]\nmemory = \"16GiB\"", "queues.a.memory"),
        ("[queues.\"bad name\"]\nqps = 1", "queues.bad name"),
        ("[defaults]\ntimeout = \"5 parsecs\"", "parsecs"),
        ("[host]\nlisten = \"not an address\"", "listen"),
    ] {
        let err = Config::parse(text).expect_err(text).to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn the_broker_table_keeps_its_type_and_settings_for_the_composition_root() {
    let c = Config::parse("[broker]\ntype = \"amqp\"\nurl = \"amqp://h\"").expect("amqp");
    assert_eq!(c.broker.kind(), "amqp");
    assert_eq!(
        c.broker.setting("url").and_then(|v| v.as_str()),
        Some("amqp://h")
    );
    assert!(c.broker.setting("type").is_none(), "type is not a setting");
}

#[test]
fn example_file_is_valid_and_shows_the_defaults() {
    let text = include_str!("../../../../deploy/wasmboost.example.toml");
    let c = Config::parse(text).expect("the example config is valid");
    // Whole tables, so a key another change adds to the example is checked against its
    // `Default` (a named constant) without touching this test.
    assert_eq!(c.host, HostConfig::default());
    assert_eq!(c.runtime, RuntimeConfigToml::default());
    assert_eq!(c.broker, BrokerSection::default());
    assert_eq!(c.trace, wasmboost_trace::TraceConfig::default());
    // `[defaults]` writes every built-in default out: resolved, it must equal an empty table's.
    let shown = c.policies().expect("valid");
    let built_in = Config::default().policies().expect("valid");
    assert_eq!(shown.of("any"), built_in.of("any"));
}

#[test]
fn a_trace_endpoint_must_be_an_http_url() {
    let err = Config::parse("[trace]\nendpoint = \"localhost:4318\"\n")
        .and_then(|c| c.validate().map(|()| c))
        .expect_err("not a URL");
    assert!(err.to_string().contains("trace.endpoint"), "{err}");
    let c = Config::parse("[trace]\nendpoint = \"http://127.0.0.1:4318\"\n").expect("valid");
    c.validate().expect("an http URL is valid");
}

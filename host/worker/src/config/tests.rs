use std::time::Duration;

use super::*;

#[test]
fn empty_config_is_all_defaults() {
    let c = Config::parse("").expect("empty config is valid");
    assert_eq!(c, Config::default());
    assert_eq!(c.broker, BrokerConfig::Embedded { path: None });
    assert_eq!(c.host.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.host.shutdown_grace.0, DEFAULT_SHUTDOWN_GRACE);
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    for (text, key) in [
        ("[host]\nlisten_addr = \"x\"", "listen_addr"),
        ("[defaults]\nconcurency = 5", "concurency"),
        ("[queues.a]\nqps = 1\nbogus = 2", "bogus"),
        (
            "[broker]\ntype = \"redis\"\nurl = \"redis://x\"\nport = 1",
            "port",
        ),
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
fn every_broker_type_parses() {
    let c = Config::parse("[broker]\ntype = \"memory\"").expect("memory");
    assert_eq!(c.broker.kind(), "memory");
    let c = Config::parse(
        "[broker]\ntype = \"amqp\"\nurl = \"amqp://h\"\nstate_redis_url = \"redis://h\"",
    )
    .expect("amqp");
    assert_eq!(c.broker.kind(), "amqp");
    let c = Config::parse("[broker]\ntype = \"embedded\"\npath = \"/tmp/x\"").expect("embedded");
    assert_eq!(c.embedded_path(), PathBuf::from("/tmp/x"));
}

#[test]
fn example_file_is_valid_and_shows_the_defaults() {
    let text = include_str!("../../../../deploy/wasmboost.example.toml");
    let c = Config::parse(text).expect("the example config is valid");
    // Whole tables, so a key another change adds to the example is checked against its
    // `Default` (a named constant) without touching this test.
    assert_eq!(c.host, HostConfig::default());
    assert_eq!(c.runtime, RuntimeConfigToml::default());
    assert_eq!(c.broker, BrokerConfig::default());
    // `[defaults]` writes every built-in default out: resolved, it must equal an empty table's.
    let shown = c.policies().expect("valid");
    let built_in = Config::default().policies().expect("valid");
    assert_eq!(shown.of("any"), built_in.of("any"));
}

#[test]
fn redis_section_takes_every_broker_key_with_defaults() {
    let c = Config::parse("[broker]\ntype = \"redis\"").expect("redis with defaults");
    assert_eq!(c.broker, BrokerConfig::Redis(RedisSection::default()));
    let c = Config::parse(
        r#"
        [broker]
        type = "redis"
        url = "redis://h:7000/2"
        prefix = "staging"
        group = "workers"
        consumer = "host-a"
        priority_aging_ms = 1000
        reclaim_interval_ms = 100
        response_timeout_ms = 3000
        connect_timeout_ms = 500
        max_reconnect_delay_ms = 4000
        "#,
    )
    .expect("every redis key");
    let BrokerConfig::Redis(redis) = &c.broker else {
        panic!("not redis: {:?}", c.broker);
    };
    assert_eq!(redis.url, "redis://h:7000/2");
    assert_eq!(redis.prefix, "staging");
    assert_eq!(redis.consumer.as_deref(), Some("host-a"));
    assert_eq!(redis.reclaim_interval_ms, 100);
    assert_eq!(redis.max_reconnect_delay_ms, 4000);
}

#[test]
fn redis_values_are_validated_naming_the_key() {
    for (line, key) in [
        ("reclaim_interval_ms = 0", "reclaim_interval_ms"),
        ("prefix = \"a b\"", "a b"),
        ("url = \"\"", "broker.url"),
    ] {
        let text = format!("[broker]\ntype = \"redis\"\n{line}");
        let err = Config::parse(&text).expect_err(&text).to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn example_redis_block_is_valid_and_shows_the_defaults() {
    let text = include_str!("../../../../deploy/wasmboost.example.toml");
    let block: String = text
        .lines()
        .skip_while(|l| !l.starts_with("# type = \"redis\""))
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.contains(" = "))
        .map(|l| format!("{l}\n"))
        .collect();
    let c = Config::parse(&format!("[broker]\n{block}")).expect("the redis block is valid");
    let defaults = RedisSection {
        consumer: Some("worker-1".to_owned()),
        ..RedisSection::default()
    };
    assert_eq!(c.broker, BrokerConfig::Redis(defaults), "{block}");
}

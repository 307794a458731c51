//! The `[broker]` table through the composition root: strict settings per type, every broker's
//! keys with their defaults, and opening the in-process brokers.

use wasmboost_broker_postgres::PostgresConfig;
use wasmboost_broker_redis::RedisConfig;

use super::*;

fn section(text: &str) -> BrokerSection {
    #[derive(Deserialize)]
    struct File {
        broker: BrokerSection,
    }
    toml::from_str::<File>(text)
        .expect("a [broker] table")
        .broker
}

/// Why the `[broker]` of `text` is refused, whether at parse or at check.
fn refusal(text: &str) -> String {
    #[derive(Deserialize)]
    struct File {
        broker: BrokerSection,
    }
    match toml::from_str::<File>(text) {
        Ok(file) => check(&file.broker).expect_err(text).to_string(),
        Err(e) => e.to_string(),
    }
}

fn redis(text: &str) -> RedisConfig {
    settings::<RedisConfig, _>(&section(text), RedisConfig::validate).expect(text)
}

#[test]
fn an_empty_broker_table_is_the_embedded_broker() {
    let s = section("[broker]\n");
    assert_eq!(s.kind(), "embedded");
    assert_eq!(s, BrokerSection::default());
    check(&s).expect("embedded with defaults");
}

#[test]
fn an_unknown_type_names_every_known_one() {
    let err = check(&section(
        "[broker]
type = \"kafka\"",
    ))
    .expect_err("kafka is no broker")
    .to_string();
    for known in ["kafka", "embedded", "memory", "redis", "amqp", "beanstalkd"] {
        assert!(err.contains(known), "{err}");
    }
}

#[test]
fn unknown_keys_are_refused_for_every_type_naming_the_key() {
    for kind in TYPES {
        let text = format!("[broker]\ntype = {kind:?}\nurl = \"x://h\"\nbogus_key = 1\n");
        let err = check(&section(&text)).expect_err(&text).to_string();
        assert!(
            err.contains("bogus_key") || err.contains("url"),
            "{kind}: {err}"
        );
    }
}

#[test]
fn every_broker_type_checks_with_its_usual_settings() {
    for text in [
        "type = \"memory\"",
        "type = \"embedded\"\npath = \"/tmp/x\"",
        "type = \"redis\"\nurl = \"redis://h:6379\"",
        "type = \"amqp\"\nurl = \"amqp://h\"\nstate_redis_url = \"redis://h\"",
        "type = \"beanstalkd\"\naddr = \"h:11300\"\nstate_redis_url = \"redis://h\"",
    ] {
        check(&section(&format!("[broker]\n{text}\n"))).expect(text);
    }
}

#[test]
fn redis_section_takes_every_broker_key_with_defaults() {
    assert_eq!(redis("[broker]\ntype = \"redis\""), RedisConfig::default());
    let r = redis(
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
    );
    assert_eq!(r.url, "redis://h:7000/2");
    assert_eq!(r.prefix, "staging");
    assert_eq!(r.consumer.as_deref(), Some("host-a"));
    assert_eq!(r.reclaim_interval_ms, 100);
    assert_eq!(r.max_reconnect_delay_ms, 4000);
}

#[test]
fn broker_values_are_validated_naming_the_value() {
    for (text, named) in [
        (
            "type = \"redis\"\nreclaim_interval_ms = 0",
            "reclaim_interval_ms",
        ),
        ("type = \"redis\"\nprefix = \"a b\"", "a b"),
        ("type = \"redis\"\nurl = \"\"", "url"),
        ("type = \"amqp\"", "url"),
        ("type = \"amqp\"\nurl = \"http://h/\"", "amqp://"),
        ("type = \"beanstalkd\"\nttr_secs = 0", "ttr_secs"),
        ("type = \"beanstalkd\"\naddr = \"nohostport\"", "nohostport"),
        ("type = 5", "string"),
    ] {
        let text = format!("[broker]\n{text}\n");
        let err = refusal(&text);
        assert!(err.contains(named), "{text}: {err}");
    }
}

/// The commented keys of the example config's block for `kind`, uncommented: from its
/// `# type = "<kind>"` line to its first bare `#` (the next broker's block follows).
fn example_block(kind: &str) -> String {
    let text = include_str!("../../../deploy/wasmboost.example.toml");
    let start = format!("# type = \"{kind}\"");
    text.lines()
        .skip_while(|l| !l.starts_with(&start))
        .take_while(|l| l.starts_with('#') && l.trim_end() != "#")
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.contains(" = "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn example_redis_block_is_valid_and_shows_the_defaults() {
    let block = example_block("redis");
    let defaults = RedisConfig {
        consumer: Some("worker-1".to_owned()),
        ..RedisConfig::default()
    };
    assert_eq!(redis(&format!("[broker]\n{block}")), defaults, "{block}");
}

#[test]
fn example_postgres_block_is_valid_and_shows_the_defaults() {
    let block = example_block("postgres");
    let parsed = settings::<PostgresConfig, _>(
        &section(&format!("[broker]\n{block}")),
        PostgresConfig::validate,
    )
    .expect(&block);
    let defaults = PostgresConfig {
        state_redis_url: Some("redis://127.0.0.1:6379/0".to_owned()),
        ..PostgresConfig::default()
    };
    assert_eq!(parsed, defaults, "{block}");
}

#[tokio::test]
async fn the_in_process_brokers_open_and_embedded_honours_its_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    open(&BrokerSection::new("memory"), dir.path())
        .await
        .expect("memory opens");
    let path = dir.path().join("elsewhere");
    let text = format!("[broker]\npath = {:?}\n", path.display().to_string());
    open(&section(&text), dir.path())
        .await
        .expect("embedded opens");
    assert!(path.is_dir(), "the embedded database is where `path` says");
    assert!(!dir.path().join("broker").exists());
}

#[tokio::test]
async fn an_unknown_type_does_not_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = open(&BrokerSection::new("kafka"), dir.path()).await.err();
    assert!(matches!(err, Some(BackendError::UnknownType { .. })));
}

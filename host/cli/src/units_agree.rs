//! Every entry point reads a duration with the one grammar (`wasmboost_policy::units`): the
//! same text means the same time in `run --timeout`, `publish --countdown`, the config's
//! `timeout`, the `?countdown=` query parameter and `extra.countdown`; and `extra.timeout_ms`,
//! whose unit is in its name, means that many milliseconds.

use std::time::Duration;

use clap::Parser;
use wasmboost_policy::message::Extra;
use wasmboost_server::params::PublishQuery;
use wasmboost_worker::Config;

use crate::{Cli, Command};

fn run_timeout(text: &str) -> Result<Duration, String> {
    let cli = Cli::try_parse_from(["wasmboost", "run", "x.wasm", "--timeout", text])
        .map_err(|e| e.to_string())?;
    match cli.command {
        Command::Run(run) => Ok(run.budget.timeout),
        other => panic!("parsed as {other:?}"),
    }
}

fn publish_countdown(text: &str) -> Result<Duration, String> {
    let args = ["wasmboost", "publish", "q", "{}", "--countdown", text];
    let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Publish(publish) => Ok(publish.countdown.expect("given")),
        other => panic!("parsed as {other:?}"),
    }
}

fn config_timeout(text: &str) -> Result<Duration, String> {
    let config =
        Config::parse(&format!("[defaults]\ntimeout = \"{text}\"\n")).map_err(|e| e.to_string())?;
    Ok(config.defaults.timeout.expect("given").0)
}

fn query_countdown(text: &str) -> Result<Duration, String> {
    let query = PublishQuery {
        countdown: Some(text.to_owned()),
        ..PublishQuery::default()
    };
    let options = query.options().map_err(|e| e.to_string())?;
    Ok(options.countdown.expect("given"))
}

fn extra_countdown(value: serde_json::Value) -> Result<Duration, String> {
    let map = serde_json::json!({ "countdown": value });
    let map = map.as_object().expect("an object");
    let extra = Extra::from_map(map).map_err(|e| e.to_string())?;
    Ok(extra.countdown.expect("given"))
}

fn extra_timeout_ms(ms: u64) -> Duration {
    let map = serde_json::json!({ "timeout_ms": ms });
    let extra = Extra::from_map(map.as_object().expect("an object")).expect("valid");
    extra.timeout.expect("given")
}

#[test]
fn every_entry_point_reads_a_duration_the_same_way() {
    for (text, want) in [
        // A bare number is seconds everywhere (`run --timeout 150` used to mean 150 ms).
        ("150", Duration::from_secs(150)),
        ("1.5", Duration::from_millis(1500)),
        ("250ms", Duration::from_millis(250)),
        ("30s", Duration::from_secs(30)),
        ("2m", Duration::from_secs(120)),
        ("1h30m", Duration::from_secs(5400)),
        ("7d", Duration::from_secs(7 * 86_400)),
    ] {
        assert_eq!(run_timeout(text), Ok(want), "run --timeout {text}");
        assert_eq!(
            publish_countdown(text),
            Ok(want),
            "publish --countdown {text}"
        );
        assert_eq!(config_timeout(text), Ok(want), "config timeout = {text:?}");
        assert_eq!(query_countdown(text), Ok(want), "?countdown={text}");
        assert_eq!(
            extra_countdown(serde_json::Value::from(text)),
            Ok(want),
            "extra.countdown {text:?}"
        );
        let ms = u64::try_from(want.as_millis()).expect("small");
        assert_eq!(extra_timeout_ms(ms), want, "extra.timeout_ms {ms}");
    }
    // A JSON or TOML number is seconds too.
    assert_eq!(
        extra_countdown(serde_json::json!(150)),
        Ok(Duration::from_secs(150))
    );
    let config = Config::parse("[defaults]\ntimeout = 150\n").expect("valid");
    assert_eq!(
        config.defaults.timeout.map(|d| d.0),
        Some(Duration::from_secs(150))
    );
}

#[test]
fn an_ambiguous_duration_is_refused_everywhere_showing_the_forms() {
    for text in ["5M", "1m30", "30 s", "soon"] {
        for (entry, result) in [
            ("run --timeout", run_timeout(text)),
            ("publish --countdown", publish_countdown(text)),
            ("config timeout", config_timeout(text)),
            ("?countdown=", query_countdown(text)),
            (
                "extra.countdown",
                extra_countdown(serde_json::Value::from(text)),
            ),
        ] {
            let err = result.expect_err(&format!("{entry} {text:?}"));
            assert!(
                err.contains("1h30m"),
                "{entry} {text:?} shows the forms: {err}"
            );
        }
    }
}

//! The host's log on stderr: `--log-format text` (the default, for people) or `json` (one JSON
//! object per line, for log shippers). `RUST_LOG` filters either.
//!
//! The JSON lines are written by [`JsonLines`], here rather than through another crate's
//! formatter: every value, the message included, goes through `serde_json`, which escapes
//! quotes, backslashes and control characters, so no guest- or message-controlled text can end
//! its line or add a field (test `ui::logs::json_logs_cannot_be_forged`). Guest text is also
//! capped and escaped before it is logged at all (`wasmboost_runtime::text`), in both formats.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use wasmboost_trace::{Exporting, TraceConfig};

/// What `RUST_LOG` defaults to: info for wasmboost and the `audit` target, warn otherwise.
const DEFAULT_FILTER: &str = "warn,wasmboost=info,audit=info";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `time LEVEL target: message key=value`, coloured on a terminal.
    #[default]
    Text,
    /// `{"timestamp":…,"level":…,"target":…,"spans":[…],"fields":{"message":…,…}}` per line.
    Json,
}

/// Install the global subscriber (a second call does nothing), with the OpenTelemetry layer
/// when `[trace] endpoint` is set: the returned [`Exporting`] sends the last spans on shutdown.
/// Without an endpoint the subscriber is exactly the plain log one.
pub fn init(format: LogFormat, trace: &TraceConfig) -> anyhow::Result<Option<Exporting>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let Some((otel, exporting)) = wasmboost_trace::layer(trace)? else {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let _ = match format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.event_format(JsonLines).try_init(),
        };
        return Ok(None);
    };
    // The filter moves onto the log layer, so `RUST_LOG` does not hide spans from the exporter
    // (which takes only its own target).
    let text = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => text.with_filter(filter).boxed(),
        LogFormat::Json => text.event_format(JsonLines).with_filter(filter).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(otel)
        .try_init();
    Ok(Some(exporting))
}

/// One JSON object per event.
#[derive(Debug, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        let spans: Vec<Value> = ctx
            .event_scope()
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| Value::from(span.name()))
                    .collect()
            })
            .unwrap_or_default();
        let mut line = Map::new();
        line.insert("timestamp".into(), timestamp.into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if !spans.is_empty() {
            line.insert("spans".into(), spans.into());
        }
        line.insert("fields".into(), Value::Object(fields.0));
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// An event's fields as JSON values: numbers and booleans as such, everything else as the
/// text its `Display` (`%`) or `Debug` (`?`) gives.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_event_is_one_parseable_line_whatever_its_text() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .event_format(JsonLines)
            .finish();
        let hostile = "a\"}\n{\"level\":\"ERROR\",\"fields\":{\"message\":\"FORGED\"}}\r\u{1b}[2J";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("task", queue = "q");
            let _entered = span.enter();
            tracing::warn!(queue = %hostile, n = 3u64, ok = true, "guest said {hostile}");
        });
        let out = String::from_utf8(sink.0.lock().expect("not poisoned").clone()).expect("utf-8");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let line: Value = serde_json::from_str(lines[0]).expect("JSON");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["spans"], serde_json::json!(["task"]));
        assert_eq!(line["fields"]["queue"], hostile);
        assert_eq!(line["fields"]["n"], 3);
        assert_eq!(line["fields"]["ok"], true);
        assert_eq!(line["fields"]["message"], format!("guest said {hostile}"));
    }
}

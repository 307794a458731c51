//! The Prometheus text exposition of `/metrics`: the queue stats every host sharing the store
//! agrees on (queued, delayed, running, DLQ, tasks by final state: [`QueueStats`]) and what this
//! host measured since it started ([`Snapshot`]: per queue, duration, fuel and peak-memory
//! histograms, traps by kind, rate waits; per host, compile time, cache hits and misses,
//! deploys, broker errors and reconnects).
//!
//! Names follow the Prometheus conventions: base units (`_seconds`, `_bytes`), `_total` on
//! counters, histograms as cumulative `_bucket{le=..}` plus `_sum` and `_count`. Every name is
//! listed once, in [`FAMILIES`] and [`HOST_FAMILIES`] (the integration test scrapes them all).

use std::fmt::Write as _;

use wasmboost_policy::histogram::Counts;
use wasmboost_worker::metrics::{QueueSnapshot, Snapshot};

use crate::contract::QueueStats;

/// One per-queue metric family read from the queue stats: name, type, help, and the value of
/// each queue's sample.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&QueueStats) -> Option<f64>,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "wasmboost_queue_queued",
        kind: "gauge",
        help: "Messages ready to run.",
        value: |s| Some(s.queued as f64),
    },
    Family {
        name: "wasmboost_queue_delayed",
        kind: "gauge",
        help: "Messages waiting for a countdown, eta or retry backoff.",
        value: |s| Some(s.delayed as f64),
    },
    Family {
        name: "wasmboost_queue_running",
        kind: "gauge",
        help: "Tasks running now.",
        value: |s| Some(s.running as f64),
    },
    Family {
        name: "wasmboost_queue_dead_lettered",
        kind: "gauge",
        help: "Messages in the dead-letter queue.",
        value: |s| Some(s.dead_lettered as f64),
    },
    Family {
        name: "wasmboost_tasks_succeeded_total",
        kind: "counter",
        help: "Tasks that succeeded.",
        value: |s| Some(s.succeeded as f64),
    },
    Family {
        name: "wasmboost_tasks_failed_total",
        kind: "counter",
        help: "Task attempts that failed.",
        value: |s| Some(s.failed as f64),
    },
    Family {
        name: "wasmboost_tasks_retried_total",
        kind: "counter",
        help: "Failed attempts scheduled to run again.",
        value: |s| Some(s.retried as f64),
    },
    Family {
        name: "wasmboost_tasks_dead_lettered_total",
        kind: "counter",
        help: "Tasks that ended in the dead-letter queue.",
        value: |s| Some(s.dead_lettered_total as f64),
    },
    Family {
        name: "wasmboost_tasks_expired_total",
        kind: "counter",
        help: "Tasks that expired before they could run.",
        value: |s| Some(s.expired as f64),
    },
    Family {
        name: "wasmboost_tasks_skipped_duplicate_total",
        kind: "counter",
        help: "Tasks skipped because their dedup key had already succeeded.",
        value: |s| Some(s.skipped_duplicate as f64),
    },
    Family {
        name: "wasmboost_tasks_denied_calls_total",
        kind: "counter",
        help: "Calls the queue's grants refused.",
        value: |s| Some(s.denied as f64),
    },
    Family {
        name: "wasmboost_queue_rate_per_second",
        kind: "gauge",
        help: "Tasks finished per second over the last minute.",
        value: |s| Some(s.rate_per_sec_1m),
    },
    Family {
        name: "wasmboost_queue_avg_duration_seconds",
        kind: "gauge",
        help: "Average task duration.",
        value: |s| Some(s.avg_duration_ms / 1000.0),
    },
    Family {
        name: "wasmboost_queue_drain_eta_seconds",
        kind: "gauge",
        help: "Estimated time to drain the backlog.",
        value: |s| s.eta_drain_secs,
    },
    Family {
        name: "wasmboost_queue_paused",
        kind: "gauge",
        help: "1 when the queue is paused.",
        value: |s| Some(if s.paused { 1.0 } else { 0.0 }),
    },
    Family {
        name: "wasmboost_queue_module_version",
        kind: "gauge",
        help: "Version number of the deployed module.",
        value: |s| s.version.map(f64::from),
    },
];

/// A per-queue histogram this host keeps: name, help, what the stored integer is divided by to
/// get the base unit (a division, so `50 µs` prints as `0.00005`), and where it sits in a
/// [`QueueSnapshot`].
struct HistogramFamily {
    name: &'static str,
    help: &'static str,
    divisor: f64,
    counts: fn(&QueueSnapshot) -> &Counts,
}

const HISTOGRAMS: &[HistogramFamily] = &[
    HistogramFamily {
        name: "wasmboost_task_duration_seconds",
        help: "Wall-clock time of one task attempt, on this host.",
        divisor: 1e6,
        counts: |q| &q.duration_us,
    },
    HistogramFamily {
        name: "wasmboost_task_fuel",
        help: "Fuel (about one unit per wasm instruction) one task attempt used, on this host.",
        divisor: 1.0,
        counts: |q| &q.fuel,
    },
    HistogramFamily {
        name: "wasmboost_task_peak_memory_bytes",
        help: "Peak linear memory of one task attempt, on this host.",
        divisor: 1.0,
        counts: |q| &q.memory_bytes,
    },
];

/// Every host-level family name, in the order [`render`] writes them (for the test and the
/// Grafana dashboard).
pub const HOST_FAMILIES: &[&str] = &[
    "wasmboost_task_traps_total",
    "wasmboost_queue_rate_waits_total",
    "wasmboost_queue_rate_wait_seconds_total",
    "wasmboost_module_compile_duration_seconds",
    "wasmboost_module_cache_hits_total",
    "wasmboost_module_cache_misses_total",
    "wasmboost_deploys_total",
    "wasmboost_broker_errors_total",
    "wasmboost_broker_reconnects_total",
    "wasmboost_host_info",
];

/// The whole exposition.
pub fn render(stats: &[QueueStats], host: &Snapshot) -> String {
    let mut out = Out::default();
    for family in FAMILIES {
        out.head(family.name, family.kind, family.help);
        for row in stats {
            if let Some(value) = (family.value)(row) {
                out.sample(family.name, &[("queue", &row.queue)], value);
            }
        }
    }
    for family in HISTOGRAMS {
        out.head(family.name, "histogram", family.help);
        for q in &host.queues {
            out.histogram(family.name, &q.queue, (family.counts)(q), family.divisor);
        }
    }
    render_host(&mut out, host);
    out.0
}

fn render_host(out: &mut Out, host: &Snapshot) {
    let name = HOST_FAMILIES[0];
    out.head(name, "counter", "Task runs the host stopped, by kind.");
    for q in &host.queues {
        for (kind, n) in &q.traps {
            out.sample(name, &[("queue", &q.queue), ("kind", kind)], *n as f64);
        }
    }
    let name = HOST_FAMILIES[1];
    out.head(
        name,
        "counter",
        "Tasks that waited for the queue's qps before starting.",
    );
    for q in &host.queues {
        out.sample(name, &[("queue", &q.queue)], q.rate_waits as f64);
    }
    let name = HOST_FAMILIES[2];
    out.head(name, "counter", "Time tasks waited for the queue's qps.");
    for q in &host.queues {
        out.sample(name, &[("queue", &q.queue)], q.rate_wait_us as f64 / 1e6);
    }
    let reg = &host.registry;
    let name = HOST_FAMILIES[3];
    out.head(
        name,
        "histogram",
        "Time to compile a module that missed the cache.",
    );
    out.histogram_unlabelled(name, &reg.compile_us, 1e6);
    let counters: [(&str, &str, u64); 2] = [
        (
            HOST_FAMILIES[4],
            "Modules loaded from the compiled cache.",
            reg.cache_hits,
        ),
        (
            HOST_FAMILIES[5],
            "Modules that had to be compiled.",
            reg.cache_misses,
        ),
    ];
    for (name, help, value) in counters {
        out.head(name, "counter", help);
        out.sample(name, &[], value as f64);
    }
    let name = HOST_FAMILIES[6];
    out.head(name, "counter", "Deploys through this host, by result.");
    out.sample(name, &[("result", "accepted")], reg.deploys as f64);
    out.sample(name, &[("result", "refused")], reg.deploys_refused as f64);
    let name = HOST_FAMILIES[7];
    out.head(name, "counter", "Broker calls that failed, by operation.");
    for (op, n) in &host.broker_errors {
        out.sample(name, &[("op", op)], *n as f64);
    }
    let name = HOST_FAMILIES[8];
    out.head(
        name,
        "counter",
        "Times the broker client re-established its connection.",
    );
    out.sample(name, &[], host.broker_reconnects as f64);
    let name = HOST_FAMILIES[9];
    out.head(
        name,
        "gauge",
        "The host answering this scrape (value always 1).",
    );
    out.sample(name, &[("host_id", &host.host_id)], 1.0);
}

/// The exposition being written. Writing to a `String` cannot fail, so `write!` results are
/// ignored.
#[derive(Default)]
struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{key}=\"{}\"", escape(value));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// Cumulative `_bucket{le=..}` samples, `_sum` and `_count`, labelled with the queue.
    fn histogram(&mut self, name: &str, queue: &str, counts: &Counts, divisor: f64) {
        self.histogram_with(name, &[("queue", queue)], counts, divisor);
    }

    fn histogram_unlabelled(&mut self, name: &str, counts: &Counts, divisor: f64) {
        self.histogram_with(name, &[], counts, divisor);
    }

    fn histogram_with(&mut self, name: &str, labels: &[(&str, &str)], c: &Counts, divisor: f64) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (i, n) in c.buckets.iter().enumerate() {
            cumulative += n;
            let le = c
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |&b| (b as f64 / divisor).to_string());
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative as f64);
        }
        self.sample(&format!("{name}_sum"), labels, c.sum as f64 / divisor);
        self.sample(&format!("{name}_count"), labels, c.count as f64);
    }
}

/// Label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use wasmboost_policy::Histogram;
    use wasmboost_policy::histogram::DURATION_US_BOUNDS;

    use super::*;

    #[test]
    fn histograms_are_cumulative_with_sum_and_count_in_base_units() {
        let h = Histogram::new(DURATION_US_BOUNDS);
        h.observe(40);
        h.observe(2_000);
        let mut out = Out::default();
        out.histogram("d_seconds", "q\"x", &h.snapshot(), 1e6);
        let text = out.0;
        assert!(
            text.contains("d_seconds_bucket{queue=\"q\\\"x\",le=\"0.00005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("d_seconds_bucket{queue=\"q\\\"x\",le=\"0.0025\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("d_seconds_bucket{queue=\"q\\\"x\",le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("d_seconds_sum{queue=\"q\\\"x\"} 0.00204\n"),
            "{text}"
        );
        assert!(
            text.contains("d_seconds_count{queue=\"q\\\"x\"} 2\n"),
            "{text}"
        );
    }

    /// Every family this module can write.
    fn all_families() -> Vec<&'static str> {
        FAMILIES
            .iter()
            .map(|f| f.name)
            .chain(HISTOGRAMS.iter().map(|h| h.name))
            .chain(HOST_FAMILIES.iter().copied())
            .collect()
    }

    #[test]
    fn every_family_is_written_with_help_and_type() {
        let text = render(&[], &Snapshot::default());
        for name in all_families() {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
    }

    #[test]
    fn the_grafana_dashboard_names_only_exported_metrics() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../../deploy/grafana/wasmboost.json"))
                .expect("deploy/grafana/wasmboost.json is JSON");
        let families = all_families();
        let mut seen = 0;
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"].as_str().expect("an expr");
                for name in metric_names(expr) {
                    let family = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s).filter(|b| families.contains(b)))
                        .unwrap_or(name);
                    assert!(families.contains(&family), "{name} in {expr:?}");
                    seen += 1;
                }
            }
        }
        assert!(
            seen >= 20,
            "the dashboard queries the metrics ({seen} names)"
        );
    }

    /// The `wasmboost_…` identifiers in a PromQL expression.
    fn metric_names(expr: &str) -> Vec<&str> {
        let mut names = Vec::new();
        let mut rest = expr;
        while let Some(start) = rest.find("wasmboost_") {
            let tail = &rest[start..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(tail.len());
            names.push(&tail[..end]);
            rest = &tail[end..];
        }
        names
    }

    #[test]
    fn a_label_cannot_break_out_of_its_line() {
        let mut out = Out::default();
        out.sample("m", &[("host_id", "a\"}\nevil 1")], 1.0);
        assert_eq!(out.0.lines().count(), 1, "{}", out.0);
    }
}

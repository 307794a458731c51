//! A file task: read a CSV file from a read-only directory, total one column per group, and
//! write the totals as a CSV file into a read-write directory (the `dirs` grant). The task sees
//! only the two preopened directories, under the guest paths `/in` and `/out`.
//!
//! `{"file": "sales.csv", "group": "region", "value": "amount"}` reads `/in/sales.csv`, writes
//! `/out/sales.totals.csv` and returns `{"rows": 4, "groups": {"east": 12.5, ...}, "wrote":
//! "/out/sales.totals.csv"}`.
//!
//! Its queue needs (see examples/README.md):
//! ```toml
//! [queues.csv.grants]
//! dirs = [{ host = "/srv/csv/in", guest = "/in", mode = "ro" },
//!         { host = "/srv/csv/out", guest = "/out", mode = "rw" }]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use wasmboost_guest::TaskError;

/// What the task did.
#[derive(Debug, Serialize)]
struct Totals {
    rows: usize,
    groups: BTreeMap<String, f64>,
    wrote: String,
}

#[wasmboost_guest::task]
fn csvjob(file: String, group: String, value: String) -> Result<Totals, TaskError> {
    // A bare file name: the task reads only what is in `/in` itself.
    if file.is_empty() || file.contains('/') || file.starts_with('.') {
        return Err(TaskError::fail(format!(
            "file must be a plain file name, got {file:?}"
        )));
    }
    let text = std::fs::read_to_string(Path::new("/in").join(&file))
        .map_err(|e| TaskError::fail(format!("/in/{file}: {e}")))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| TaskError::fail(format!("no column {name:?} in {header:?}")))
    };
    let (g, v) = (column(&group)?, column(&value)?);
    let mut groups: BTreeMap<String, f64> = BTreeMap::new();
    let mut rows = 0;
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let (Some(key), Some(amount)) = (cells.get(g), cells.get(v)) else {
            return Err(TaskError::fail(format!("row {}: too few cells", i + 2)));
        };
        let amount: f64 = amount.parse().map_err(|_| {
            TaskError::fail(format!("row {}: {value} {amount:?} is not a number", i + 2))
        })?;
        *groups.entry((*key).to_owned()).or_default() += amount;
        rows += 1;
    }
    let stem = file.strip_suffix(".csv").unwrap_or(&file);
    let wrote = format!("/out/{stem}.totals.csv");
    let mut out = format!("{group},{value}\n");
    for (key, total) in &groups {
        out.push_str(&format!("{key},{total}\n"));
    }
    std::fs::write(&wrote, out).map_err(|e| TaskError::fail(format!("{wrote}: {e}")))?;
    Ok(Totals {
        rows,
        groups,
        wrote,
    })
}

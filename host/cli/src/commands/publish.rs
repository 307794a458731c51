//! `wasmboost publish <queue> '<json>' [--countdown 5s | --eta RFC3339] [--priority N]
//! [--wait [--timeout 30s]]` and `wasmboost publish <queue> --file tasks.jsonl` (bulk).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::result::print_reply;
use crate::client::{Client, ClientArgs, PublishParams, parse_duration_arg};

#[derive(Debug, clap::Args)]
pub struct PublishCommand {
    /// Queue to publish to.
    queue: String,
    /// The message: a JSON object whose keys are the task's arguments.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    message: Option<String>,
    /// Publish every line of this JSON-lines file (`-` for stdin), in bulk.
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// Run no earlier than this long from now: `5s`, `2m`, `1h30m` (a bare number is seconds).
    #[arg(long, value_parser = parse_duration_arg, conflicts_with = "eta")]
    pub(crate) countdown: Option<Duration>,
    /// Run no earlier than this time (RFC 3339, e.g. 2030-01-01T09:00:00Z).
    #[arg(long)]
    eta: Option<String>,
    /// 0 (default) to 9; higher runs first.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=9))]
    priority: Option<u8>,
    /// Use this task id instead of a fresh UUIDv7.
    #[arg(long, conflicts_with = "file")]
    task_id: Option<String>,
    /// Wait for the task to finish and print its result (RPC).
    #[arg(long, conflicts_with = "file")]
    wait: bool,
    /// How long `--wait` waits: `30s`, `2m`, `1h30m` (a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = parse_duration_arg)]
    timeout: Duration,
    /// Messages per request in bulk mode.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    chunk: u64,
    #[command(flatten)]
    client: ClientArgs,
}

impl PublishCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let client = Client::new(&self.client)?;
        let params = PublishParams {
            countdown: self.countdown,
            eta: self.eta.clone(),
            priority: self.priority,
            task_id: self.task_id.clone(),
            wait: self.wait.then_some(self.timeout),
        };
        match (&self.file, &self.message) {
            (Some(file), _) => self.bulk(&client, file, &params).await,
            (None, Some(message)) => self.one(&client, message, &params).await,
            (None, None) => bail!("give a JSON message or --file FILE"),
        }
    }

    async fn one(
        &self,
        client: &Client,
        message: &str,
        params: &PublishParams,
    ) -> anyhow::Result<ExitCode> {
        check_message(message.as_bytes()).context("invalid message")?;
        let reply = client
            .publish(&self.queue, message.as_bytes().to_vec(), params)
            .await
            .with_context(|| format!("publishing to queue {:?}", self.queue))?;
        if params.wait.is_some() {
            return Ok(print_reply(&reply, self.client.json, params.wait));
        }
        let task_id = match &reply {
            crate::client::Reply::Done(record) => record.task_id.clone(),
            crate::client::Reply::Pending { task_id, .. } => task_id.clone(),
        };
        if self.client.json {
            println!("{}", serde_json::json!({ "task_id": task_id }));
        } else {
            println!("{task_id}");
        }
        Ok(ExitCode::SUCCESS)
    }

    async fn bulk(
        &self,
        client: &Client,
        file: &Path,
        params: &PublishParams,
    ) -> anyhow::Result<ExitCode> {
        let data = read_input(file).await?;
        let lines = message_lines(&data, file)?;
        let progress = progress_bar(lines.len() as u64);
        let started = Instant::now();
        let chunk = usize::try_from(self.chunk).unwrap_or(usize::MAX);
        let mut published = 0usize;
        for batch in lines.chunks(chunk) {
            let mut body = Vec::with_capacity(batch.iter().map(|l| l.len() + 1).sum());
            for line in batch {
                body.extend_from_slice(line);
                body.push(b'\n');
            }
            let ids = client
                .publish_batch(&self.queue, body, params)
                .await
                .with_context(|| {
                    format!(
                        "publishing lines {}..{} of {} to queue {:?} ({published} published before)",
                        published + 1,
                        published + batch.len(),
                        file.display(),
                        self.queue
                    )
                })?;
            published += ids.len();
            progress.set_position(published as u64);
        }
        progress.finish_and_clear();
        self.summary(published, started.elapsed());
        Ok(ExitCode::SUCCESS)
    }

    fn summary(&self, published: usize, took: Duration) {
        let secs = took.as_secs_f64().max(1e-6);
        let rate = published as f64 / secs;
        if self.client.json {
            println!(
                "{}",
                serde_json::json!({ "queue": self.queue, "published": published, "seconds": secs, "rate": rate })
            );
        } else {
            println!(
                "published {published} tasks to {} in {secs:.2}s ({rate:.0} tasks/s)",
                self.queue
            );
        }
    }
}

async fn read_input(file: &Path) -> anyhow::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut data = Vec::new();
        // A CLI reading its own stdin: blocking here stalls nothing else.
        std::io::stdin()
            .read_to_end(&mut data)
            .context("reading messages from stdin")?;
        return Ok(data);
    }
    tokio::fs::read(file)
        .await
        .with_context(|| format!("cannot read {}", file.display()))
}

/// The non-blank lines, each checked to be a JSON object; an error names `file:line:column`.
fn message_lines<'a>(data: &'a [u8], file: &Path) -> anyhow::Result<Vec<&'a [u8]>> {
    let mut lines = Vec::new();
    for (index, line) in data.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Err(err) = check_message(line) {
            bail!("{}:{}: {err}", file.display(), index + 1);
        }
        lines.push(line);
    }
    if lines.is_empty() {
        bail!(
            "{} holds no messages (one JSON object per line)",
            file.display()
        );
    }
    Ok(lines)
}

/// A message must be one JSON object; malformed JSON is reported with its line and column.
fn check_message(text: &[u8]) -> anyhow::Result<()> {
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    serde_json::from_slice::<serde::de::IgnoredAny>(text).map_err(|err| {
        anyhow::anyhow!(
            "malformed JSON at line {}, column {}: {err}",
            err.line(),
            err.column()
        )
    })?;
    if first != Some(&b'{') {
        bail!("a message must be a JSON object of the task's arguments, like {{\"x\": 1}}");
    }
    Ok(())
}

/// A bar on stderr when it is a terminal; indicatif draws nothing otherwise.
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
    );
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_names_line_and_column() {
        let err = check_message(b"{\"x\": 1,").expect_err("truncated object");
        assert!(err.to_string().contains("line 1, column 8"), "{err}");
    }

    #[test]
    fn non_objects_are_refused() {
        let err = check_message(b"[1, 2]").expect_err("an array is not a message");
        assert!(err.to_string().contains("JSON object"), "{err}");
    }

    #[test]
    fn bulk_errors_name_the_file_line() {
        let data = b"{\"x\":1}\n\n{\"x\":2\n";
        let err = message_lines(data, Path::new("tasks.jsonl")).expect_err("line 3 is bad");
        assert!(err.to_string().starts_with("tasks.jsonl:3:"), "{err}");
    }
}

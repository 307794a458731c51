//! `wasmboost workflow run FILE|JSON [--wait]`, `workflow status ID`, `workflow cancel ID`:
//! submit a workflow (chain, group, chord, map; see the README), show every stage and step with
//! its task id and state, cancel its pending and running steps. `submit` and `show` are aliases.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use wasmboost_server::contract::WorkflowInfo;

use super::EXIT_HOST_ERROR;
use crate::client::{Client, ClientArgs, parse_duration_arg};

/// Pause between two looks at a workflow while `--wait` waits.
const WAIT_POLL: Duration = Duration::from_millis(200);

#[derive(Debug, clap::Args)]
pub struct WorkflowCommand {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Submit a workflow: a JSON file, `-` for stdin, or the JSON itself.
    #[command(alias = "submit")]
    Run {
        workflow: String,
        /// Wait until the workflow has ended and print it; exit 1 unless it succeeded.
        #[arg(long)]
        wait: bool,
        /// How long `--wait` waits: `30s`, `2m` (a bare number is seconds).
        #[arg(long, default_value = "60s", value_parser = parse_duration_arg)]
        timeout: Duration,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a workflow: its state, each stage and each step with its task id and state.
    #[command(alias = "show")]
    Status {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Cancel a workflow: no further stage starts; its pending and running steps are cancelled.
    Cancel {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// The document: a file, stdin (`-`), or inline JSON (starts with `{`).
fn read_doc(arg: &str) -> anyhow::Result<Vec<u8>> {
    if arg.trim_start().starts_with('{') {
        return Ok(arg.as_bytes().to_vec());
    }
    if arg == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("reading stdin")?;
        return Ok(buf);
    }
    std::fs::read(arg).with_context(|| format!("cannot read the workflow file {arg}"))
}

impl WorkflowCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        match self.action {
            Action::Run {
                workflow,
                wait,
                timeout,
                client: args,
            } => {
                let client = Client::new(&args)?;
                let doc = read_doc(&workflow)?;
                let info = client
                    .submit_workflow(doc)
                    .await
                    .context("cannot submit the workflow")?;
                if !wait {
                    print(&info, args.json)?;
                    return Ok(ExitCode::SUCCESS);
                }
                let deadline = Instant::now() + timeout;
                let mut info = info;
                while info.state == "running" {
                    if Instant::now() >= deadline {
                        print(&info, args.json)?;
                        eprintln!(
                            "error: workflow {} still running after {timeout:?}",
                            info.id
                        );
                        return Ok(ExitCode::from(EXIT_HOST_ERROR));
                    }
                    tokio::time::sleep(WAIT_POLL).await;
                    info = client.workflow(&info.id).await?;
                }
                print(&info, args.json)?;
                Ok(if info.state == "succeeded" {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
            Action::Status { id, client: args } => {
                let client = Client::new(&args)?;
                let info = client
                    .workflow(&id)
                    .await
                    .with_context(|| format!("cannot show workflow {id}"))?;
                print(&info, args.json)?;
                Ok(ExitCode::SUCCESS)
            }
            Action::Cancel { id, client: args } => {
                let client = Client::new(&args)?;
                let info = client
                    .cancel_workflow(&id)
                    .await
                    .with_context(|| format!("cannot cancel workflow {id}"))?;
                print(&info, args.json)?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

fn print(info: &WorkflowInfo, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(info)?);
        return Ok(());
    }
    println!("workflow {}  {}", info.id, info.state);
    if let Some(error) = &info.error {
        println!("  error: {error}");
    }
    if let Some(result) = &info.result {
        println!("  result: {result}");
    }
    for (s, stage) in info.stages.iter().enumerate() {
        let size = stage.size.map_or("not started".to_owned(), |n| {
            format!("{}/{n} done", stage.done)
        });
        println!("  stage {s} ({}): {size}", stage.kind);
        for step in &stage.steps {
            let state = step.state.map_or("unknown".to_owned(), |s| s.to_string());
            let error = step
                .error
                .as_deref()
                .map(|e| format!("  {e}"))
                .unwrap_or_default();
            println!("    {}  {}  {state}{error}", step.task_id, step.queue);
        }
    }
    Ok(())
}

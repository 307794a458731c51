//! The `wasmboost` binary: parses the command line and dispatches to one module per subcommand
//! (`commands/`). Errors print their cause chain, never a backtrace.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod client;
mod commands;
mod logs;
mod output;
mod profile;
mod version;

/// mimalloc instead of glibc's malloc: a task's path allocates and frees many small buffers
/// across threads (messages, records, the WASI context), where glibc's malloc costs 16-22 %
/// more instructions per queued task (README, "Benchmarks": the allocator A/B). Built without
/// transparent huge pages (a CLI call paid for zeroing 2 MiB pages); a compile child under a
/// memory limit runs with small arenas (`wasmboost_registry`'s `LIMITED_CHILD_ENV`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Run task functions compiled to WebAssembly components, isolated, under budgets, from queues.
#[derive(Debug, Parser)]
#[command(name = "wasmboost", version, long_version = version::long_version(), about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a component once on a JSON payload and print its result.
    Run(commands::run::RunCommand),
    /// Run many isolated invocations of a component and print latency and throughput.
    Bench(commands::bench::BenchCommand),
    /// Scaffold a new task project.
    New(commands::new::NewCommand),
    /// Build a task project into a component and print its path.
    Build(commands::build::BuildCommand),
    /// Start a host: workers for the configured queues and the HTTP control API.
    Serve(commands::serve::ServeCommand),
    /// Deploy a component to a queue (a new version; the previous ones are kept).
    Deploy(commands::deploy::DeployCommand),
    /// List the deployed versions of a queue's module.
    Versions(commands::versions::VersionsCommand),
    /// Bind a queue back to an earlier version.
    Rollback(commands::rollback::RollbackCommand),
    /// Publish one JSON message, or many from a JSON-lines file.
    Publish(commands::publish::PublishCommand),
    /// Print a task's result.
    Result(commands::result::ResultCommand),
    /// Print a task's status.
    Status(commands::status::StatusCommand),
    /// Cancel a task by id: skipped if queued, stopped at once if running, never retried.
    Cancel(commands::cancel::CancelCommand),
    /// List the periodic schedules (`[[schedules]]`) with their next and last ticks.
    Schedule(commands::schedule::ScheduleCommand),
    /// Run durable workflows (chain, group, chord, map): run, status, cancel.
    Workflow(commands::workflow::WorkflowCommand),
    /// Show queue statistics.
    Queues(commands::queues::QueuesCommand),
    /// Stop running new tasks from a queue (persists across restarts).
    Pause(commands::pause::PauseCommand),
    /// Resume a paused queue.
    Resume(commands::pause::ResumeCommand),
    /// Inspect, replay or purge a queue's dead-letter queue.
    Dlq(commands::dlq::DlqCommand),
    /// Exit 0 when a host answers `/healthz` (or `/readyz` with `--ready`): for container checks.
    Healthcheck(commands::healthcheck::HealthcheckCommand),
    /// Create, list or revoke API tokens.
    Token(commands::token::TokenCommand),
    /// Show who deployed, rolled back, paused, purged or changed tokens, and when.
    Audit(commands::audit::AuditCommand),
    /// Print a shell completion script: `wasmboost completions bash|zsh|fish`.
    Completions(commands::completions::CompletionsCommand),
    /// Compile a component into the host's cache (used by the host in a child process).
    #[command(hide = true, name = "__compile")]
    Compile(commands::compile::CompileCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(commands::EXIT_HOST_ERROR);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(c) => c.execute().await,
            Command::Bench(c) => c.execute().await,
            Command::New(c) => c.execute().await,
            Command::Build(c) => c.execute().await,
            Command::Serve(c) => c.execute().await,
            Command::Deploy(c) => c.execute().await,
            Command::Versions(c) => c.execute().await,
            Command::Rollback(c) => c.execute().await,
            Command::Publish(c) => c.execute().await,
            Command::Result(c) => c.execute().await,
            Command::Status(c) => c.execute().await,
            Command::Cancel(c) => c.execute().await,
            Command::Schedule(c) => c.execute().await,
            Command::Workflow(c) => c.execute().await,
            Command::Queues(c) => c.execute().await,
            Command::Pause(c) => c.execute().await,
            Command::Resume(c) => c.execute().await,
            Command::Dlq(c) => c.execute().await,
            Command::Healthcheck(c) => c.execute().await,
            Command::Token(c) => c.execute().await,
            Command::Audit(c) => c.execute().await,
            Command::Compile(c) => c.execute().await,
            Command::Completions(c) => Ok(c.execute(&mut <Cli as clap::CommandFactory>::command())),
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(commands::EXIT_HOST_ERROR)
        }
    }
}

#[cfg(test)]
mod units_agree;

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks argument definitions only when a subcommand is parsed; check them all here.
    #[test]
    fn every_subcommand_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    /// The bash script completes every visible subcommand.
    #[test]
    fn the_bash_completions_name_every_subcommand() {
        use crate::commands::completions::{CompletionShell, script};
        let mut command = super::Cli::command();
        let script = script(CompletionShell::Bash, &mut command);
        let names: Vec<String> = command
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name().to_owned())
            .collect();
        assert!(names.len() > 20, "{names:?}");
        // The top level's word list: `opts="... run bench new ... completions help"`.
        let top = script
            .lines()
            .find(|l| l.contains("opts=\"") && l.contains(" publish "))
            .unwrap_or_else(|| panic!("no top-level word list in\n{script}"));
        for name in &names {
            assert!(
                top.split([' ', '"']).any(|w| w == name),
                "{name} missing from {top}"
            );
        }
    }
}

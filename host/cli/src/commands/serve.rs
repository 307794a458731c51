//! `wasmboost serve`: start a host (workers for the queues) and its HTTP control API. Loads the
//! config file, applies the command-line overrides, validates everything before connecting, and
//! shuts down gracefully on SIGINT / SIGTERM (running tasks finish within the grace period, the
//! rest go back to the broker), exiting 0.
//!
//! A non-loopback `--listen` is refused while the state store holds no API token (anyone who
//! can reach the port could deploy code), unless `--insecure` says so on purpose.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use wasmboost_server::ServeOptions;
use wasmboost_worker::{BrokerSection, Config, Host};

/// The stderr line the harness and scripts wait for; the address follows it.
pub const LISTEN_MARKER: &str = "wasmboost listening on ";

#[derive(Debug, clap::Args)]
pub struct ServeCommand {
    /// Config file (strict TOML). Default: `wasmboost.toml` if it exists in the current
    /// directory, else built-in defaults.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Address of the control API (`127.0.0.1:0` picks a free port; the bound one is printed).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Directory for the embedded broker, module cache and state.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Broker to use (overrides `[broker]`; redis and amqp need their URL in the config).
    #[arg(long, value_enum)]
    broker: Option<BrokerChoice>,
    /// Declare a queue with its concurrency, e.g. `--queue add=64` (repeatable).
    #[arg(long = "queue", value_name = "NAME=CONCURRENCY", value_parser = parse_queue)]
    queues: Vec<(String, u32)>,
    /// Listen beyond loopback without API tokens: anyone who reaches the port can deploy and
    /// run code. For throwaway networks only.
    #[arg(long)]
    insecure: bool,
    /// How log lines on stderr are written: `text` for people, `json` (one object per line) for
    /// log shippers. `RUST_LOG` filters either.
    #[arg(long, value_enum, default_value_t)]
    log_format: crate::logs::LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BrokerChoice {
    /// Durable, on disk, in this process (the default).
    Embedded,
    /// In memory: nothing survives the process.
    Memory,
}

fn parse_queue(text: &str) -> Result<(String, u32), String> {
    let (name, concurrency) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=CONCURRENCY, got {text:?}"))?;
    let concurrency: u32 = concurrency
        .parse()
        .map_err(|_| format!("concurrency {concurrency:?} of queue {name:?} is not a number"))?;
    if concurrency == 0 {
        return Err(format!("concurrency of queue {name:?} must be at least 1"));
    }
    Ok((name.to_owned(), concurrency))
}

impl ServeCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        let config = self.config()?;
        // The trace exporter's HTTP client (reqwest) needs the TLS provider installed first.
        crate::client::install_tls_provider();
        let exporting = crate::logs::init(self.log_format, &config.trace)?;
        let code = self.run(config).await;
        if let Some(exporting) = exporting {
            // Blocks while the last spans are sent: off the runtime's worker threads.
            let _ = tokio::task::spawn_blocking(move || exporting.shutdown()).await;
        }
        code
    }

    async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let grace = config.host.shutdown_grace.0;
        let tls = match (&config.host.tls_cert, &config.host.tls_key) {
            (Some(cert), Some(key)) => Some(wasmboost_server::tls::load(cert, key)?),
            _ => None,
        };
        let options = ServeOptions {
            header_timeout: config.host.header_timeout.0,
            body_timeout: config.host.body_timeout.0,
            tls,
            insecure: self.insecure,
        };
        let listen = config.host.listen;
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let broker = config.broker.kind().to_owned();
        let data_dir = config.host.data_dir.display().to_string();
        let backend = wasmboost_backends::open(&config.broker, &config.host.data_dir)
            .await
            .context("opening the broker")?;
        let host = Host::start(config, backend)
            .await
            .context("starting the host")?;
        if let Err(err) = self.check_exposure(&host, listen).await {
            let _ = host.shutdown(grace).await;
            return Err(err);
        }
        let listener = match TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(err) => {
                let _ = host.shutdown(grace).await;
                return Err(err).with_context(|| format!("cannot listen on {listen}"));
            }
        };
        let addr = listener.local_addr().context("reading the bound address")?;
        let banner = format!("{LISTEN_MARKER}{scheme}://{addr} (broker {broker}, data {data_dir})");
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let mut server = tokio::spawn(wasmboost_server::serve(
            host.clone(),
            listener,
            options,
            async move {
                let _ = http_stopped.await;
            },
        ));
        eprintln!("{banner}");
        tokio::select! {
            signal = wait_for_signal() => {
                eprintln!("{}: shutting down, running tasks have {grace:?} to finish", signal?);
            }
            ended = &mut server => {
                // The API died on its own: still hand running tasks back before failing.
                let _ = host.shutdown(grace).await;
                ended.context("the control API task failed")??;
                bail!("the control API stopped unexpectedly");
            }
        }
        // The API keeps answering while tasks drain: `/readyz` says 503 (the host is stopping)
        // and `/healthz` 200, so a load balancer stops routing here without killing the host.
        let drained = host.shutdown(grace).await;
        let _ = stop_http.send(());
        drained.context("shutting the host down")?;
        // Requests still open (RPC waits) had the grace period; do not wait for them longer.
        match tokio::time::timeout(Duration::from_secs(2), server).await {
            Ok(ended) => ended.context("the control API task failed")??,
            Err(_) => tracing::warn!("closing requests still open after shutdown"),
        }
        eprintln!("wasmboost stopped");
        Ok(ExitCode::SUCCESS)
    }

    /// Refuse a non-loopback listener while no API token exists, unless `--insecure`.
    async fn check_exposure(&self, host: &Host, listen: SocketAddr) -> anyhow::Result<()> {
        if listen.ip().is_loopback() {
            return Ok(());
        }
        let tokens = host
            .store()
            .tokens()
            .await
            .context("reading the API tokens")?;
        if !tokens.is_empty() {
            return Ok(());
        }
        if self.insecure {
            let warning = format!(
                "listening on {listen} WITHOUT API TOKENS (--insecure): anyone who can reach \
                 this port can deploy and run code, pause queues and purge dead letters"
            );
            eprintln!("WARNING: {warning}");
            tracing::warn!("{warning}");
            return Ok(());
        }
        bail!(
            "refusing to listen on {listen}: no API token exists, so anyone who can reach the \
             port could deploy and run code. Start once on loopback (the default), run \
             `wasmboost token create --scope admin`, then restart with --listen {listen} (or pass \
             --insecure on a network you trust)"
        )
    }

    /// The config file (if any), then the flags over it, validated.
    fn config(&self) -> anyhow::Result<Config> {
        let default_file = PathBuf::from("wasmboost.toml");
        let path = match &self.config {
            Some(path) => Some(path.clone()),
            None => default_file.is_file().then_some(default_file),
        };
        let mut config = match &path {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(listen) = self.listen {
            config.host.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.host.data_dir = dir.clone();
        }
        match self.broker {
            Some(BrokerChoice::Memory) => config.broker = BrokerSection::new("memory"),
            Some(BrokerChoice::Embedded) if config.broker.kind() != "embedded" => {
                config.broker = BrokerSection::new("embedded");
            }
            Some(BrokerChoice::Embedded) | None => {}
        }
        for (name, concurrency) in &self.queues {
            config.queues.entry(name.clone()).or_default().concurrency = Some(*concurrency);
        }
        let context = || match &path {
            Some(path) => format!("invalid configuration ({} and flags)", path.display()),
            None => "invalid configuration (flags)".to_owned(),
        };
        config.validate().with_context(context)?;
        wasmboost_backends::check(&config.broker).with_context(context)?;
        Ok(config)
    }
}

/// Resolves on the first SIGINT or SIGTERM, naming it.
async fn wait_for_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

//! `wasmboost token create --scope S [--queue Q] [--expires 30d]`, `token list`,
//! `token revoke ID`: API tokens of a host (admin; the first one from loopback while none
//! exists). The secret is printed once, on creation; the host keeps only its hash.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use wasmboost_server::CreateToken;
use wasmboost_server::auth::Scope;

use crate::client::{Client, ClientArgs};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct TokenCommand {
    #[command(subcommand)]
    action: TokenAction,
}

#[derive(Debug, clap::Subcommand)]
enum TokenAction {
    /// Create a token and print its secret (shown only this once).
    Create(CreateArgs),
    /// List tokens (ids, scopes, expiry; never secrets).
    List(ListArgs),
    /// Revoke a token by id: refused at once on this host, within 1 s on hosts sharing its store.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// What the token may do (repeatable): publish, read, deploy, admin (admin implies all).
    #[arg(long = "scope", required = true, value_parser = parse_scope)]
    scopes: Vec<Scope>,
    /// Limit `publish` to this queue (repeatable; default: every queue).
    #[arg(long = "queue")]
    queues: Vec<String>,
    /// Expire after this long, e.g. `30d`, `12h` (default: never).
    #[arg(long, value_parser = crate::client::parse_duration_arg)]
    expires: Option<Duration>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Debug, clap::Args)]
struct RevokeArgs {
    /// The token's id (the part after `wbt_`, as `token list` shows it).
    id: String,
    #[command(flatten)]
    client: ClientArgs,
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    text.parse()
}

impl TokenCommand {
    pub async fn execute(self) -> anyhow::Result<ExitCode> {
        match self.action {
            TokenAction::Create(args) => create(args).await,
            TokenAction::List(args) => list(args).await,
            TokenAction::Revoke(args) => revoke(args).await,
        }
    }
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client)?;
    let request = CreateToken {
        scopes: args.scopes,
        queues: args.queues,
        expires_in_secs: args.expires.map(|d| d.as_secs().max(1)),
    };
    let created = client
        .create_token(&request)
        .await
        .context("creating a token")?;
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&created)?);
    } else {
        println!("{}", created.token);
        eprintln!(
            "created token {} (scopes: {}; expires: {}). The secret above is shown only now: \
             keep it (WASMBOOST_TOKEN, --token, or a profile).",
            created.info.id,
            scopes(&created.info.scopes),
            created
                .info
                .expires_ms
                .map_or_else(|| "never".to_owned(), output::time_ms)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client)?;
    let tokens = client.tokens().await.context("listing tokens")?;
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&tokens)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                scopes(&t.scopes),
                if t.queues.is_empty() {
                    "*".to_owned()
                } else {
                    t.queues.join(",")
                },
                output::time_ms(t.created_ms),
                t.expires_ms
                    .map_or_else(|| "never".to_owned(), output::time_ms),
                t.created_by.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        output::table(
            &["ID", "SCOPES", "QUEUES", "CREATED", "EXPIRES", "BY"],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.client)?;
    let id = args.id.trim_start_matches("wbt_");
    let id = id.split('_').next().unwrap_or(id);
    let revoked = client
        .revoke_token(id)
        .await
        .with_context(|| format!("revoking token {id}"))?;
    if args.client.json {
        println!("{}", serde_json::to_string(&revoked)?);
    } else {
        println!("revoked token {}", revoked.id);
    }
    Ok(ExitCode::SUCCESS)
}

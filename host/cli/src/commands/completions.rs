//! `wasmboost completions bash|zsh|fish`: print the shell completion script for every
//! subcommand and flag, generated from the same clap definitions the binary parses with.
//!
//! Install: `wasmboost completions bash > /etc/bash_completion.d/wasmboost`,
//! `wasmboost completions zsh > "${fpath[1]}/_wasmboost"`,
//! `wasmboost completions fish > ~/.config/fish/completions/wasmboost.fish`.

use std::process::ExitCode;

use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct CompletionsCommand {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: CompletionShell,
}

/// The shells a script is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl CompletionsCommand {
    /// Write the script for `command` (the whole CLI) to stdout.
    pub fn execute(self, command: &mut clap::Command) -> ExitCode {
        print!("{}", script(self.shell, command));
        ExitCode::SUCCESS
    }
}

/// The completion script of `command` for `shell`.
pub fn script(shell: CompletionShell, command: &mut clap::Command) -> String {
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, command, "wasmboost", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

//! Named connection profiles in `$XDG_CONFIG_HOME/wasmboost/config.toml` (default
//! `~/.config/wasmboost/config.toml`), so a remote host is one `--profile prod` away:
//!
//! ```toml
//! [profiles.prod]
//! server = "https://wb.example.com:7878"
//! token = "wbt_…"
//! ca = "/etc/wasmboost/ca.pem"   # optional: trust this CA (or self-signed certificate)
//! ```
//!
//! A profile named `default`, if present, applies when no profile is named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The profile used when none is named (if the file has it).
pub const DEFAULT_PROFILE: &str = "default";

/// One profile: every key optional; flags and environment variables win over it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// URL of the host, e.g. `https://wb.example.com:7878`.
    pub server: Option<String>,
    /// API token (`wbt_…`).
    pub token: Option<String>,
    /// PEM file of a CA (or self-signed certificate) to trust for this server.
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// Where the profiles live: `$XDG_CONFIG_HOME/wasmboost/config.toml`, else
/// `$HOME/.config/wasmboost/config.toml`.
pub fn path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("wasmboost").join("config.toml"))
}

/// The profile `name` (an error if the file or the profile is missing), or the `default`
/// profile when no name is given (nothing if there is none).
pub fn load(name: Option<&str>) -> anyhow::Result<Option<Profile>> {
    let Some(path) = path() else {
        if let Some(name) = name {
            bail!("profile {name:?}: neither XDG_CONFIG_HOME nor HOME is set");
        }
        return Ok(None);
    };
    if !path.is_file() {
        if let Some(name) = name {
            bail!("profile {name:?}: no profiles file at {}", path.display());
        }
        return Ok(None);
    }
    let mut file = read(&path)?;
    match name {
        Some(name) => match file.profiles.remove(name) {
            Some(profile) => Ok(Some(profile)),
            None => bail!(
                "no profile {name:?} in {} (profiles: {})",
                path.display(),
                file.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        },
        None => Ok(file.profiles.remove(DEFAULT_PROFILE)),
    }
}

fn read(path: &Path) -> anyhow::Result<ProfilesFile> {
    warn_if_readable_by_others(path);
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read profiles file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid profiles file {}", path.display()))
}

/// Tokens are secrets: say so when the file is readable by group or others.
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: {} holds API tokens but is readable by other users (chmod 600 it)",
            path.display()
        );
    }
}

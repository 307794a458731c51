//! The `.cwasm` cache: compiled components on disk, keyed by the wasm's sha256 and the engine's
//! compatibility hash, in a directory only the host writes (created `0700`).
//!
//! `Component::deserialize` runs native code from the file, so a file is only deserialized when
//! its HMAC-SHA256 tag (keyed by a random secret, `0600`, kept with the data directory's secrets
//! rather than beside the artifacts) matches. A corrupt, truncated or planted file fails the
//! check, is reported with a warning naming its path, removed, and the component recompiled.

use std::fs::{self, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{LoadError, RuntimeError};

/// Name of the HMAC key file when it is kept in the cache directory itself.
pub(crate) const KEY_FILE: &str = "cache.key";
/// Key length in bytes.
const KEY_LEN: usize = 32;
/// SHA-256 block size, for HMAC.
const BLOCK: usize = 64;

/// A cache directory bound to one engine configuration.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
    engine_hash: String,
}

impl DiskCache {
    /// Creates (or secures) the directory and loads or creates its key: `key_file`, or
    /// [`KEY_FILE`] in the directory when `None`.
    pub(crate) fn open(
        dir: &Path,
        key_file: Option<&Path>,
        engine: &Engine,
    ) -> Result<Self, RuntimeError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RuntimeError::CacheDir { path, source }
        };
        private_dir(dir).map_err(io_err(dir))?;
        let key = match key_file {
            Some(file) => {
                if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                    private_dir(parent).map_err(io_err(parent))?;
                }
                // A key left beside the artifacts by an older version is no longer trusted.
                let _ = fs::remove_file(dir.join(KEY_FILE));
                load_or_create_key(file).map_err(io_err(file))?
            }
            None => load_or_create_key(&dir.join(KEY_FILE)).map_err(io_err(dir))?,
        };
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(DiskCache {
            dir: dir.to_path_buf(),
            key,
            engine_hash: format!("{:016x}", hasher.finish()),
        })
    }

    /// Path of the compiled artifact for a wasm sha256.
    pub(crate) fn artifact_path(&self, sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{sha256}-{}.cwasm", self.engine_hash))
    }

    fn tag_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.tag", self.engine_hash))
    }

    /// The cached component, or `None` on a miss. A file whose tag does not verify, or that the
    /// engine refuses, is removed and reported as a miss.
    pub(crate) fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.artifact_path(sha256);
        let bytes = fs::read(&path).ok()?;
        let tag = fs::read(self.tag_path(sha256)).unwrap_or_default();
        if tag != hmac_sha256(&self.key, &bytes) {
            tracing::warn!(path = %path.display(), "cached component failed its integrity check; recompiling");
            self.remove(sha256);
            return None;
        }
        match deserialize(engine, &bytes) {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(path = %path.display(), "cached component rejected by the engine ({err}); recompiling");
                self.remove(sha256);
                None
            }
        }
    }

    /// Writes a compiled artifact and its tag atomically (write to a temporary name, rename).
    pub(crate) fn store(&self, sha256: &str, cwasm: &[u8]) -> Result<(), LoadError> {
        let path = self.artifact_path(sha256);
        let cache_err = |err: std::io::Error| LoadError::Cache {
            path: path.clone(),
            message: err.to_string(),
        };
        write_atomic(&path, cwasm).map_err(cache_err)?;
        write_atomic(&self.tag_path(sha256), &hmac_sha256(&self.key, cwasm)).map_err(cache_err)
    }

    /// Removes everything cached for `sha256`: artifact, tag, and temporary files a killed
    /// compiler left behind (`<sha256>-*.tmp<pid>`), for every engine version.
    pub(crate) fn remove(&self, sha256: &str) {
        // Best effort: a file that cannot be removed is simply overwritten by the next store,
        // and a stale one never verifies.
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let owned = format!("{sha256}-");
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_str().is_some_and(|n| n.starts_with(&owned)) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Creates `dir` (and missing parents) `0700` and tightens it to `0700` if it exists.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Deserializes an artifact this host compiled and tagged.
#[expect(
    unsafe_code,
    reason = "deserializing runs native code; callers verify the HMAC tag first"
)]
fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: the bytes were produced by `Component::serialize` in this cache directory (their
    // HMAC, keyed by a secret only the host can read, verified) and wasmtime checks that they
    // match this engine's configuration.
    unsafe { Component::deserialize(engine, bytes) }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

fn load_or_create_key(path: &Path) -> std::io::Result<[u8; KEY_LEN]> {
    let mut key = [0u8; KEY_LEN];
    match fs::read(path) {
        Ok(bytes) if bytes.len() == KEY_LEN => {
            key.copy_from_slice(&bytes);
            return Ok(key);
        }
        Ok(_) => {
            tracing::warn!(path = %path.display(), "cache key has the wrong length; replacing it")
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    write_atomic(path, &key)?;
    Ok(key)
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8; KEY_LEN], message: &[u8]) -> Vec<u8> {
    let mut ipad = [0x36u8; BLOCK];
    let mut opad = [0x5cu8; BLOCK];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine configured like the runtime's (the default configuration would not build).
    fn engine() -> Engine {
        let config = crate::RuntimeConfig {
            max_instances: 1,
            ..crate::RuntimeConfig::default()
        };
        let wasmtime = config.wasmtime_config(false).expect("valid config");
        Engine::new(&wasmtime).expect("engine builds")
    }

    #[test]
    fn the_key_lives_in_the_named_file_not_beside_the_artifacts() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("cache");
        let key = root.path().join("secrets").join("cache.key");
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join(KEY_FILE), [7u8; KEY_LEN]).expect("old key");
        let cache = DiskCache::open(&dir, Some(&key), &engine()).expect("opens");
        assert!(
            !dir.join(KEY_FILE).exists(),
            "the old key beside the artifacts is gone"
        );
        let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(key.parent().expect("parent")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_ne!(cache.key, [7u8; KEY_LEN]);
    }

    #[test]
    fn remove_takes_the_artifact_its_tag_and_leftover_temporaries() {
        let root = tempfile::tempdir().expect("temp dir");
        let cache = DiskCache::open(root.path(), None, &engine()).expect("opens");
        cache.store("abc", b"cwasm").expect("stores");
        let tmp = root.path().join("abc-0123.tmp999");
        fs::write(&tmp, b"half").expect("tmp");
        fs::write(root.path().join("abd-0123.cwasm"), b"other").expect("other");
        cache.remove("abc");
        let left: Vec<String> = fs::read_dir(root.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != KEY_FILE)
            .collect();
        assert_eq!(left, ["abd-0123.cwasm"]);
    }

    #[test]
    fn hmac_matches_rfc_4231_style_vector() {
        // HMAC-SHA256 with a 32-byte key of 0x0b and "Hi There" (computed with Python's hmac).
        let tag = hmac_sha256(&[0x0b; KEY_LEN], b"Hi There");
        assert_eq!(
            hex::encode(tag),
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
    }
}

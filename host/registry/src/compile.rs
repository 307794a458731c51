//! How an upload is compiled: in this process, or in a child process that can be killed.
//!
//! Cranelift can take tens of seconds and gigabytes on a pathological component, and a compile
//! cannot be interrupted from inside the process. [`Compiler::Child`] runs
//! `<exe> __compile [--cache-dir DIR [--cache-key FILE]] --max-bytes N --max-memory-bytes M
//! --memory-reservation R [--max-data-bytes L]` with the wasm on stdin; the child limits its own heap to `L`
//! (`RLIMIT_DATA`), validates, compiles into the host's `.cwasm` cache and prints the sha256. The
//! parent kills it when the time limit passes, then loads from the cache it writes itself, so it
//! never deserializes anything a user supplied.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::error::RegistryError;

/// Default time limit on compiling one upload in a child process.
pub const DEFAULT_COMPILE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default memory limit of one compile child (its heap, `RLIMIT_DATA`). Compiling the Python
/// `add` example (18 MB of wasm) peaks at 456 MiB of data (390 MiB resident) on 2 cores; a
/// small Rust guest at 23 MiB. 2 GiB leaves room for larger Python components and more
/// compile threads while a pathological upload (a million functions: 2.1 GB) is stopped.
pub const DEFAULT_COMPILE_MEMORY: u64 = 2 << 30;
/// The hidden subcommand of the `wasmboost` binary that compiles into the cache.
pub const COMPILE_SUBCOMMAND: &str = "__compile";
/// Set in a compile child's environment when its heap is limited. The `wasmboost` binary
/// allocates with mimalloc, which by default reserves its heap in 1 GiB arenas of writable
/// memory; `RLIMIT_DATA` counts a whole arena, so under a limit of 1 GiB or less not even a
/// small guest compiled. Arenas of 16 MiB keep what the limit counts within 16 MiB of what
/// the compile uses.
const LIMITED_CHILD_ENV: (&str, &str) = ("MIMALLOC_ARENA_RESERVE", "16MiB");
/// How much of the child's error output is kept in the rejection reason.
const MAX_REASON_BYTES: usize = 4096;

/// Where uploads are compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compiler {
    /// In this process, unbounded in time: for tests and trusted uploads.
    InProcess,
    /// In a child process running `exe __compile`, killed after `timeout`, its heap limited to
    /// `memory_limit` bytes (`None`: unlimited).
    Child {
        exe: PathBuf,
        timeout: Duration,
        memory_limit: Option<u64>,
    },
}

impl Compiler {
    /// A child compiler running `exe` with [`DEFAULT_COMPILE_TIMEOUT`] and
    /// [`DEFAULT_COMPILE_MEMORY`].
    pub fn child(exe: impl Into<PathBuf>) -> Compiler {
        Compiler::Child {
            exe: exe.into(),
            timeout: DEFAULT_COMPILE_TIMEOUT,
            memory_limit: Some(DEFAULT_COMPILE_MEMORY),
        }
    }
}

/// The settings the child needs to build an engine whose artifacts the parent can load.
#[derive(Debug, Clone)]
pub(crate) struct ChildJob<'a> {
    pub exe: &'a Path,
    pub timeout: Duration,
    pub cache_dir: Option<&'a Path>,
    pub cache_key_file: Option<&'a Path>,
    pub max_bytes: u64,
    pub max_memory_bytes: u64,
    /// The parent's `memory_reservation`: it decides whether compiled code checks bounds.
    pub memory_reservation: u64,
    pub memory_limit: Option<u64>,
}

impl ChildJob<'_> {
    /// Compile `wasm` (whose sha256 is `sha256`) in a child; `Ok` once it is in the cache.
    pub(crate) async fn run(&self, wasm: &[u8], sha256: &str) -> Result<(), RegistryError> {
        let mut command = self.command();
        let mut child = command
            .spawn()
            .map_err(|e| self.host_error(e.to_string()))?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| self.host_error("its stdin was not captured".to_owned()))?;
        let work = async move {
            // A write error means the child exited early; its stderr says why.
            let _ = stdin.write_all(wasm).await;
            drop(stdin);
            child.wait_with_output().await
        };
        // On timeout the future (and with it the child handle) is dropped: `kill_on_drop`
        // sends SIGKILL and tokio reaps the process in the background.
        let output = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| RegistryError::CompileTimeout {
                timeout: self.timeout,
            })?
            .map_err(|e| self.host_error(e.to_string()))?;
        if !output.status.success() {
            if let Some(limit) = self.memory_limit
                && ran_out_of_memory(&output.stderr)
            {
                return Err(RegistryError::CompileMemory { limit });
            }
            return Err(RegistryError::Rejected {
                reason: child_reason(&output.stderr, output.status),
            });
        }
        let printed = String::from_utf8_lossy(&output.stdout);
        if printed.trim() != sha256 {
            let detail = format!(
                "it printed {:?}, expected the sha256 {sha256}",
                printed.trim()
            );
            return Err(self.host_error(detail));
        }
        Ok(())
    }

    fn command(&self) -> Command {
        let mut command = Command::new(self.exe);
        command.arg(COMPILE_SUBCOMMAND);
        if let Some(dir) = self.cache_dir {
            command.arg("--cache-dir").arg(dir);
            if let Some(key) = self.cache_key_file {
                command.arg("--cache-key").arg(key);
            }
        }
        command
            .arg("--max-bytes")
            .arg(self.max_bytes.to_string())
            .arg("--max-memory-bytes")
            .arg(self.max_memory_bytes.to_string())
            .arg("--memory-reservation")
            .arg(self.memory_reservation.to_string());
        if let Some(limit) = self.memory_limit {
            command.arg("--max-data-bytes").arg(limit.to_string());
            command.env(LIMITED_CHILD_ENV.0, LIMITED_CHILD_ENV.1);
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    fn host_error(&self, detail: String) -> RegistryError {
        RegistryError::Compiler {
            exe: self.exe.display().to_string(),
            detail,
        }
    }
}

/// Whether a failed child ran into its memory limit. Under `RLIMIT_DATA` an allocation fails:
/// Rust's allocator aborts with `memory allocation of N bytes failed`, and an `mmap` (a thread
/// stack, a code image) fails with `ENOMEM`. The child's stderr is the only channel a process
/// aborted by its allocator has, so it is read here.
fn ran_out_of_memory(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr);
    OUT_OF_MEMORY_SIGNS.iter().any(|sign| text.contains(sign))
}

/// What a compile that hit its memory limit prints (see [`ran_out_of_memory`]).
const OUT_OF_MEMORY_SIGNS: [&str; 3] = [
    "memory allocation of ",
    "Cannot allocate memory",
    "out of memory",
];

/// The child's explanation: its last `error: ...` text, bounded, or how it died.
fn child_reason(stderr: &[u8], status: std::process::ExitStatus) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let text = text
        .rsplit_once("error: ")
        .map_or(text, |(_, last)| last)
        .trim();
    if text.is_empty() {
        return format!("the compiler process failed ({status}) without saying why");
    }
    let mut end = text.len().min(MAX_REASON_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A stand-in compiler: a shell script with the given body.
    /// Held by each test from writing its fake compiler until its child has run: a test thread
    /// forking while another holds a script open for writing makes that script's exec fail with
    /// `ETXTBSY` ("text file busy"), so the tests that write and run scripts take turns.
    static SPAWN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    async fn script(dir: &Path, body: &str) -> (PathBuf, tokio::sync::MutexGuard<'static, ()>) {
        let serial = SPAWN.lock().await;
        (write_script(dir, body), serial)
    }

    fn write_script(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("fake-wasmboost");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn job(exe: &Path, timeout: Duration) -> ChildJob<'_> {
        ChildJob {
            exe,
            timeout,
            cache_dir: None,
            cache_key_file: None,
            max_bytes: 1000,
            max_memory_bytes: 1 << 20,
            memory_reservation: 1 << 21,
            memory_limit: Some(1 << 30),
        }
    }

    #[tokio::test]
    async fn a_slow_compile_is_killed_at_the_time_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pid_file = dir.path().join("pid");
        let (exe, _serial) = script(
            dir.path(),
            &format!("echo $$ > {}; exec sleep 30", pid_file.display()),
        )
        .await;
        let started = std::time::Instant::now();
        let err = job(&exe, Duration::from_millis(500))
            .run(b"wasm", "sha")
            .await
            .expect_err("times out");
        assert!(matches!(err, RegistryError::CompileTimeout { .. }), "{err}");
        assert!(err.is_rejection());
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "did not wait for the child"
        );
        let pid = std::fs::read_to_string(&pid_file).expect("child wrote its pid");
        let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        // Killed and reaped in the background: poll until the process is gone.
        while proc_dir.exists() && !is_zombie(&proc_dir) {
            assert!(
                std::time::Instant::now() < deadline,
                "child {pid} still running"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn is_zombie(proc_dir: &Path) -> bool {
        std::fs::read_to_string(proc_dir.join("stat"))
            .map(|stat| {
                stat.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('Z'))
            })
            .unwrap_or(true)
    }

    #[tokio::test]
    async fn a_refusal_carries_the_childs_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (exe, _serial) = script(
            dir.path(),
            "cat >/dev/null; echo 'warning: noise' >&2; echo 'error: this is a core module' >&2; exit 3",
        ).await;
        let err = job(&exe, Duration::from_secs(30))
            .run(b"wasm", "sha")
            .await
            .expect_err("refused");
        assert_eq!(err.to_string(), "this is a core module");
        assert!(err.is_rejection());
    }

    #[tokio::test]
    async fn the_child_gets_the_bytes_and_the_flags() {
        let dir = tempfile::tempdir().expect("temp dir");
        let seen = dir.path().join("seen");
        let (exe, _serial) = script(
            dir.path(),
            &format!(
                "cat > {0}.stdin; echo \"$@\" > {0}.args; echo abc123",
                seen.display()
            ),
        )
        .await;
        let cache = dir.path().join("cache");
        let job = ChildJob {
            cache_dir: Some(&cache),
            ..job(&exe, Duration::from_secs(30))
        };
        job.run(b"the wasm bytes", "abc123")
            .await
            .expect("child succeeds");
        let stdin = std::fs::read(seen.with_extension("stdin")).expect("stdin captured");
        assert_eq!(stdin, b"the wasm bytes");
        let args = std::fs::read_to_string(seen.with_extension("args")).expect("args captured");
        let want = format!(
            "__compile --cache-dir {} --max-bytes 1000 --max-memory-bytes 1048576 \
             --memory-reservation 2097152 --max-data-bytes 1073741824",
            cache.display()
        );
        assert_eq!(args.trim(), want);
    }

    #[tokio::test]
    async fn a_wrong_answer_or_missing_exe_is_a_host_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (exe, _serial) = script(dir.path(), "cat >/dev/null; echo other").await;
        let err = job(&exe, Duration::from_secs(30))
            .run(b"w", "abc")
            .await
            .expect_err("bad sha");
        assert!(matches!(err, RegistryError::Compiler { .. }), "{err}");
        assert!(!err.is_rejection());
        let missing = dir.path().join("missing");
        let err = job(&missing, Duration::from_secs(30))
            .run(b"w", "abc")
            .await
            .expect_err("no exe");
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[tokio::test]
    async fn a_child_out_of_memory_names_the_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (exe, _serial) = script(
            dir.path(),
            "cat >/dev/null; echo 'memory allocation of 4096 bytes failed' >&2; kill -6 $$",
        )
        .await;
        let err = job(&exe, Duration::from_secs(30))
            .run(b"w", "abc")
            .await
            .expect_err("out of memory");
        assert!(matches!(err, RegistryError::CompileMemory { .. }), "{err}");
        assert!(err.is_rejection());
        assert!(err.to_string().contains("1073741824 bytes"), "{err}");
    }

    #[tokio::test]
    async fn a_child_killed_by_a_signal_is_a_rejection() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (exe, _serial) = script(dir.path(), "cat >/dev/null; kill -9 $$").await;
        let err = job(&exe, Duration::from_secs(30))
            .run(b"w", "abc")
            .await
            .expect_err("killed");
        assert!(err.to_string().contains("signal"), "{err}");
    }
}

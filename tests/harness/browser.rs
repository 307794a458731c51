//! Harness: a real headless Chromium driven through WebDriver, for the dashboard tests.
//!
//! [`Browser::start`] runs `chromedriver` (the Debian `chromium-driver` package;
//! `WASMBOOST_CHROMEDRIVER` / `WASMBOOST_CHROMIUM` override the paths) on a free loopback port,
//! waits until its `/status` says ready, and opens one session. The client is a few WebDriver
//! commands over a minimal HTTP/1.1 exchange ([`exchange`]: chromedriver keeps the connection
//! open after its answer, so the body is read by `Content-Length`): navigate, click, type, run a
//! script, screenshot, accept a `confirm()`. On drop the session is deleted (Chromium
//! exits) and chromedriver is killed by PID.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::host::workspace_root;
use crate::poll::poll;

/// How long chromedriver and Chromium may take to start on a busy 2-core machine.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// The W3C key of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session on headless Chromium.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    screenshots: PathBuf,
}

fn program(env: &str, name: &str) -> PathBuf {
    std::env::var_os(env).map_or_else(|| PathBuf::from(name), PathBuf::from)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Where a test's output (screenshots) goes: `<target>/test-output/<test>/`, created empty.
pub fn output_dir(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let dir = target.join("test-output").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the target directory is writable");
    dir
}

impl Browser {
    /// Start chromedriver and open a headless Chromium window of `width` x `height`;
    /// screenshots go to `screenshots`.
    pub fn start(screenshots: &Path, width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Command::new(program("WASMBOOST_CHROMEDRIVER", "chromedriver"))
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/setup.sh installs chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            screenshots: screenshots.to_path_buf(),
        };
        poll(
            "chromedriver to be ready",
            START_DEADLINE,
            String::new,
            || {
                let (status, body) = exchange(&browser.base, "GET", "/status", b"").ok()?;
                let ready = serde_json::from_str::<Value>(&body).ok()?["value"]["ready"].as_bool();
                (status == 200 && ready == Some(true)).then_some(())
            },
        );
        let chromium = program("WASMBOOST_CHROMIUM", "chromium");
        let chromium = which(&chromium).unwrap_or(chromium);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless=new",
                    // The tests run as root in a container: Chromium's sandbox needs user
                    // namespaces it does not have there.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-extensions",
                    "--disable-background-networking",
                    format!("--window-size={width},{height}"),
                ],
            },
        }}});
        let value = browser.command("POST", "/session", &caps);
        browser.session = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {value}"))
            .to_owned();
        browser
    }

    /// One WebDriver command; its `value`. Panics with the driver's error otherwise.
    fn command(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if method == "GET" {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let (status, text) = exchange(&self.base, method, path, &body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let answer: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: not JSON ({e}): {text}"));
        assert_eq!(status, 200, "WebDriver {method} {path}: {answer}");
        answer["value"].clone()
    }

    fn session_command(&self, method: &str, path: &str, body: &Value) -> Value {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Load `url` (and wait for the load event).
    pub fn goto(&self, url: &str) {
        self.session_command("POST", "/url", &json!({ "url": url }));
    }

    /// Resize the window (CSS pixels).
    pub fn resize(&self, width: u32, height: u32) {
        self.session_command(
            "POST",
            "/window/rect",
            &json!({"width": width, "height": height}),
        );
    }

    /// Run `script` (a function body; `arguments[i]` are `args`) in the page; its return value.
    pub fn exec(&self, script: &str, args: &[Value]) -> Value {
        self.session_command(
            "POST",
            "/execute/sync",
            &json!({"script": script, "args": args}),
        )
    }

    /// The text of the first element matching `css`, `None` when there is none.
    pub fn text(&self, css: &str) -> Option<String> {
        let value = self.exec(
            "const el = document.querySelector(arguments[0]); return el ? el.textContent : null;",
            &[json!(css)],
        );
        value.as_str().map(str::to_owned)
    }

    /// Whether an element matches `css` and is displayed (not inside `hidden`).
    pub fn visible(&self, css: &str) -> bool {
        self.exec(
            "const el = document.querySelector(arguments[0]); \
             return !!el && el.getClientRects().length > 0;",
            &[json!(css)],
        )
        .as_bool()
        .unwrap_or(false)
    }

    /// Wait until the element matching `css` has text for which `check` is true; that text.
    pub fn wait_text(&self, css: &str, within: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let last = self.text(css);
            if let Some(t) = &last
                && check(t)
            {
                return t.clone();
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting on {css:?}; last text {last:?}; page:\n{}",
                self.text("body").unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The WebDriver reference of the element matching `css`, waiting up to `within` for it.
    fn element(&self, css: &str, within: Duration) -> String {
        poll(
            &format!("an element {css:?}"),
            within,
            || self.text("body").unwrap_or_default(),
            || {
                self.visible(css).then_some(())?;
                let found = self.session_command(
                    "POST",
                    "/elements",
                    &json!({"using": "css selector", "value": css}),
                );
                found.get(0)?[ELEMENT_KEY].as_str().map(str::to_owned)
            },
        )
    }

    /// Click the element matching `css` as a user would (waits up to 10 s for it).
    pub fn click(&self, css: &str) {
        let id = self.element(css, Duration::from_secs(10));
        self.session_command("POST", &format!("/element/{id}/click"), &json!({}));
    }

    /// Type `text` into the element matching `css` (waits up to 10 s for it).
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css, Duration::from_secs(10));
        self.session_command("POST", &format!("/element/{id}/clear"), &json!({}));
        self.session_command(
            "POST",
            &format!("/element/{id}/value"),
            &json!({ "text": text }),
        );
    }

    /// Accept the open `confirm()` dialog, waiting up to 10 s for it.
    pub fn accept_dialog(&self) {
        poll("a dialog", Duration::from_secs(10), String::new, || {
            let path = format!("/session/{}/alert/accept", self.session);
            let (status, _) = exchange(&self.base, "POST", &path, b"{}").ok()?;
            (status == 200).then_some(())
        });
    }

    /// Save a PNG of the viewport as `<screenshots>/<name>.png`; its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let value = self.session_command("GET", "/screenshot", &Value::Null);
        let png = decode_base64(value.as_str().expect("a screenshot is base64 text"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the output directory is writable");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = exchange(&self.base, "DELETE", &path, b"");
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One request to `base` (`http://host:port`) on a fresh connection; the status and body, read
/// by `Content-Length`.
fn exchange(base: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let host = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host)?;
    // A command waits for the page (navigation, script); chromedriver's own timeouts are shorter.
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().map_err(std::io::Error::other)?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The full path of `program` on `PATH` (chromedriver wants an absolute binary path).
fn which(program: &Path) -> Option<PathBuf> {
    if program.is_absolute() {
        return Some(program.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Standard base64 (what WebDriver screenshots are) to bytes; padding and newlines ignored.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for sextet in text.bytes().filter_map(value) {
        // Only the low `bits` bits are pending; mask so the accumulator never overflows.
        acc = ((acc << 6) | u32::from(sextet)) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(super::decode_base64("aGVsbG8="), b"hello");
        assert_eq!(super::decode_base64("iVBORw=="), b"\x89PNG");
    }
}

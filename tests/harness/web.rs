//! Harness: a local HTTP site (axum) on a free loopback port, in its own thread and runtime, that
//! counts every request by path, so a test can tell what a guest reached and what it did not.
//!
//! Routes: `/small` (`hello`), `/big` (64 KiB), `/redirect?to=URL` (302 to `URL`),
//! `/page/N` (an HTML page linking to pages `2N` and `2N+1` below `pages`, see [`Site::pages`]),
//! `/api/items` (a JSON list of [`API_PRICES`], only with `Authorization: Bearer` [`API_KEY`],
//! else 401), anything else 404. Stopped on drop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Bytes of `/big`.
pub const BIG_BYTES: usize = 64 * 1024;
/// The key `/api/items` wants as a bearer token.
pub const API_KEY: &str = "sk-test-4f9d2c1e8b7a";
/// The prices of `/api/items`.
pub const API_PRICES: [u64; 4] = [3, 5, 7, 11];

#[derive(Debug, Default)]
struct Hits {
    by_path: BTreeMap<String, u64>,
}

#[derive(Debug, Clone)]
struct Site {
    hits: Arc<Mutex<Hits>>,
    pages: u32,
}

/// A running site; stops when dropped.
#[derive(Debug)]
pub struct WebServer {
    port: u16,
    hits: Arc<Mutex<Hits>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WebServer {
    /// Starts a site whose `/page/N` tree has `pages` pages (1..=pages).
    pub fn start(pages: u32) -> WebServer {
        let hits = Arc::new(Mutex::new(Hits::default()));
        let site = Site {
            hits: hits.clone(),
            pages,
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port is free");
        let port = listener.local_addr().expect("bound").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a test runtime starts");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let app = Router::new()
                    .route("/small", get(|| async { "hello" }))
                    .route("/big", get(|| async { "x".repeat(BIG_BYTES) }))
                    .route("/redirect", get(redirect))
                    .route("/page/{n}", get(page))
                    .route("/api/items", get(api_items))
                    .fallback(|| async { StatusCode::NOT_FOUND })
                    .layer(axum::middleware::from_fn_with_state(site.clone(), count))
                    .with_state(site);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        WebServer {
            port,
            hits,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests served for `path` (without the query).
    pub fn hits(&self, path: &str) -> u64 {
        let hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        hits.by_path.get(path).copied().unwrap_or(0)
    }

    /// Requests served in all.
    pub fn total_hits(&self) -> u64 {
        let hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        hits.by_path.values().sum()
    }

    /// Every path served and how often.
    pub fn all_hits(&self) -> BTreeMap<String, u64> {
        self.hits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_path
            .clone()
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn count(
    State(site): State<Site>,
    uri: Uri,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    {
        let mut hits = site.hits.lock().unwrap_or_else(|p| p.into_inner());
        *hits.by_path.entry(uri.path().to_owned()).or_default() += 1;
    }
    next.run(request).await
}

async fn redirect(Query(query): Query<BTreeMap<String, String>>) -> Response {
    match query.get("to") {
        Some(to) => (StatusCode::FOUND, [(header::LOCATION, to.clone())]).into_response(),
        None => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Page `n` links to `2n` and `2n+1` (a binary tree of `pages` pages) and back to page 1.
async fn page(State(site): State<Site>, Path(n): Path<u32>) -> Response {
    if n == 0 || n > site.pages {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut links = String::from("<a href=\"/page/1\">home</a>\n");
    for child in [2 * n, 2 * n + 1] {
        if child <= site.pages {
            links.push_str(&format!("<a href=\"/page/{child}\">page {child}</a>\n"));
        }
    }
    let html = format!("<html><body><h1>page {n}</h1>\n{links}</body></html>\n");
    ([(header::CONTENT_TYPE, "text/html")], html).into_response()
}

/// `/api/items`: the items as JSON for the right bearer token, else 401.
async fn api_items(headers: axum::http::HeaderMap) -> Response {
    let want = format!("Bearer {API_KEY}");
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given != Some(want.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let items: Vec<serde_json::Value> = API_PRICES
        .iter()
        .map(|p| serde_json::json!({ "price": p }))
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "items": items }).to_string(),
    )
        .into_response()
}

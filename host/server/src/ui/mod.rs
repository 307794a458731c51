//! The dashboard at `GET /ui`: plain HTML, CSS and vanilla JavaScript embedded in the binary
//! (no build step, no Node, no request leaves the host's origin).
//!
//! The assets hold no data and need no token. The page asks for a token, keeps it in
//! `sessionStorage` (not a cookie: the browser never attaches it on its own, so no other page
//! can make a request carry it) and calls the same JSON API as the CLI, same-origin, with
//! `Authorization: Bearer` and `Content-Type: application/json`, so the browser guard and the
//! scope checks apply to it as to every client. Every answer is written into the page as text
//! (`textContent`), never as HTML: task results and errors are guest-controlled.
//!
//! Files in `assets/`: `index.html` (the shell), `app.css`, `core.js` (the API client, scopes,
//! text-only DOM helpers, polling), `pages.js` (queues, queue detail, task, hosts, schedules), `app.js`
//! (login, routing, start-up), `chart.js` (a small canvas line chart written for this
//! dashboard).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// Every file the dashboard serves, by name under `/ui/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("assets/index.html"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/app.css"),
    },
    Asset {
        name: "core.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/core.js"),
    },
    Asset {
        name: "pages.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/pages.js"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/app.js"),
    },
    Asset {
        name: "chart.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/chart.js"),
    },
];

/// Scripts and styles from this origin only, no inline script, fetches to this origin only, no
/// framing: a stored string that slipped into the page as HTML still could not run or call out.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `GET /ui` and `GET /ui/`: the page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /ui/{asset}`.
pub async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    serve(&name)
}

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no dashboard file {name:?}"),
        )
        .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            // The assets change with the binary; a revalidation is one small request.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_asset_names_another_origin() {
        // The dashboard must work offline and leak nothing: no CDN, font or analytics URL.
        for asset in ASSETS {
            let text = String::from_utf8_lossy(asset.body);
            for scheme in ["http://", "https://", "//cdn", "ws://", "wss://"] {
                assert!(
                    !text.contains(scheme),
                    "{} mentions {scheme}: the dashboard may not reach another origin",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn the_page_writes_text_never_html() {
        // Guest-controlled strings (results, errors) reach the page; only textContent is safe.
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = String::from_utf8_lossy(asset.body);
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
            ] {
                assert!(!text.contains(sink), "{} uses {sink}", asset.name);
            }
        }
    }

    #[test]
    fn unknown_assets_are_404() {
        assert_eq!(serve("../Cargo.toml").status(), StatusCode::NOT_FOUND);
        assert_eq!(serve("app.js").status(), StatusCode::OK);
    }
}

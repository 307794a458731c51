//! A crawler task: fetch one page (the `http` grant), publish each same-site link it has not
//! seen to the `crawl` queue (dedup through `kv` compare-and-swap, so every page is fetched
//! once however many pages link to it), and count the pages in `kv`.
//!
//! `{"url": "http://127.0.0.1:8080/page/1"}` -> `{"url": ..., "links": 3, "published": 2,
//! "pages": 1}`; `{"url": ..., "report": true}` only reads the page count.
//!
//! Its queue needs (see examples/README.md):
//! ```toml
//! [queues.crawl.grants]
//! http = ["http://127.0.0.1:8080"]
//! kv = true
//! publish_to = ["crawl"]
//! ```

use serde::Serialize;
use wasmboost_guest::{TaskError, http, kv, publish};

/// The kv key counting fetched pages.
const PAGES: &str = "pages";
/// Longest URL remembered (the host's kv keys are at most 512 bytes, `seen:` included).
const MAX_URL: usize = 500;

/// What one crawl step did.
#[derive(Debug, Serialize)]
struct Crawled {
    url: String,
    links: usize,
    published: usize,
    pages: i64,
}

#[wasmboost_guest::task]
fn crawl(url: String, #[default] report: bool) -> Result<Crawled, TaskError> {
    if report {
        let pages = kv::get(PAGES)?.map_or(0, |v| String::from_utf8_lossy(&v).parse().unwrap_or(0));
        return Ok(Crawled {
            url,
            links: 0,
            published: 0,
            pages,
        });
    }
    let origin =
        origin(&url).ok_or_else(|| TaskError::fail(format!("not an http(s) URL: {url}")))?;
    // The seed marks itself, so the links back to it publish nothing.
    kv::compare_and_swap(&seen_key(&url), None, b"1")?;
    let response = http::get(&url).map_err(|e| TaskError::retry(e.to_string()))?;
    if response.status() != 200 {
        return Err(TaskError::fail(format!(
            "{url}: status {}",
            response.status()
        )));
    }
    let html = response.text()?;
    let links = same_site_links(&html, origin);
    let mut published = 0;
    for link in &links {
        if link.len() <= MAX_URL && kv::compare_and_swap(&seen_key(link), None, b"1")? {
            publish("crawl", &serde_json::json!({ "url": link }))?;
            published += 1;
        }
    }
    let pages = kv::increment(PAGES, 1)?;
    Ok(Crawled {
        url,
        links: links.len(),
        published,
        pages,
    })
}

fn seen_key(url: &str) -> String {
    format!("seen:{url}")
}

/// `scheme://host[:port]` of `url`.
fn origin(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let end = rest.find('/').unwrap_or(rest.len());
    Some(&url[..url.len() - rest.len() + end])
}

/// Every `href="..."` of `html` on the same origin, absolute, without fragments, in order,
/// each once.
fn same_site_links(html: &str, origin: &str) -> Vec<String> {
    let mut links: Vec<String> = Vec::new();
    for piece in html.split("href=\"").skip(1) {
        let Some(end) = piece.find('"') else { continue };
        let href = piece[..end].split('#').next().unwrap_or_default();
        let absolute = if href.starts_with('/') && !href.starts_with("//") {
            format!("{origin}{href}")
        } else if href.starts_with(origin) && href[origin.len()..].starts_with('/') {
            href.to_owned()
        } else {
            continue;
        };
        if !links.contains(&absolute) {
            links.push(absolute);
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_on_the_site() {
        let html = r#"<a href="/a">a</a> <a href="http://x.org:81/b#top">b</a>
            <a href="https://other.org/c">c</a> <a href="//evil.org/d">d</a> <a href="/a">again</a>"#;
        let links = same_site_links(html, "http://x.org:81");
        assert_eq!(links, ["http://x.org:81/a", "http://x.org:81/b"]);
        assert_eq!(origin("http://x.org:81/p/q"), Some("http://x.org:81"));
        assert_eq!(origin("ftp://x.org"), None);
    }
}

//! Outbound HTTP from a real 0.2.0 guest to a real local site: the allow-list, the address
//! rules (a name that resolves to loopback, IPv6 loopback, the metadata address), redirects the
//! host does not follow, and the request-count and response-byte caps. Each refusal is a typed
//! `wasi:http` error in the guest, counted in the report, the site never sees the request, and
//! the next task runs.

use std::time::Duration;

use serde_json::{Value, json};
use wasmboost_runtime::egress::rule::HttpRule;
use wasmboost_runtime::{Grants, HttpGrant};
use wasmboost_tests::web::{BIG_BYTES, WebServer};

use super::{ok_json, run};

fn http_grant(allow: &[String], max_requests: u32, max_response_bytes: u64) -> Grants {
    let allow = allow
        .iter()
        .map(|entry| HttpRule::parse(entry).unwrap_or_else(|err| panic!("{err}")))
        .collect();
    Grants {
        http: Some(HttpGrant {
            allow,
            max_requests,
            max_response_bytes,
            timeout: Duration::from_secs(5),
        }),
        ..Grants::default()
    }
}

/// The site's own address, named literally: the documented way to allow a loopback server.
fn literal(site: &WebServer) -> Grants {
    http_grant(&[site.base()], 20, 1 << 20)
}

async fn fetch(urls: &[String], grants: Grants) -> (Vec<Value>, u32) {
    let report = run("granted", json!({ "fetch": urls }), grants).await;
    let result = ok_json(&report);
    let fetched = result["fetch"].as_array().cloned().unwrap_or_default();
    (fetched, report.denied)
}

fn assert_refused(entry: &Value, code: &str) {
    assert_eq!(entry["error"], code, "{entry}");
    assert_eq!(entry["denied"], true, "{entry}");
}

#[tokio::test]
async fn an_allowed_literal_address_is_fetched() {
    let site = WebServer::start(1);
    let (fetched, denied) = fetch(&[format!("{}/small", site.base())], literal(&site)).await;
    assert_eq!(fetched[0]["ok"]["status"], 200, "{fetched:?}");
    assert_eq!(fetched[0]["ok"]["len"], 5, "{fetched:?}");
    assert_eq!((denied, site.hits("/small")), (0, 1));
}

#[tokio::test]
async fn nothing_is_reachable_without_a_grant_and_the_next_task_runs() {
    let site = WebServer::start(1);
    let url = format!("{}/small", site.base());
    let (fetched, denied) = fetch(std::slice::from_ref(&url), Grants::default()).await;
    assert_refused(&fetched[0], "HTTP-request-denied");
    assert_eq!((denied, site.total_hits()), (1, 0));
    // The refusal left nothing behind: the next task, granted, runs normally.
    let (fetched, _) = fetch(&[url], literal(&site)).await;
    assert_eq!(fetched[0]["ok"]["status"], 200, "{fetched:?}");
}

#[tokio::test]
async fn hosts_and_ports_not_on_the_list_are_refused() {
    let site = WebServer::start(1);
    let other = WebServer::start(1);
    let urls = [
        format!("{}/small", other.base()),
        format!("https://127.0.0.1:{}/small", site.port()),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://[::1]:{}/small", site.port()),
    ];
    let (fetched, denied) = fetch(&urls, literal(&site)).await;
    for entry in &fetched {
        assert_refused(entry, "HTTP-request-denied");
    }
    assert_eq!(denied, 4);
    assert_eq!((site.total_hits(), other.total_hits()), (0, 0));
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_prohibited() {
    // `localhost` is on the list by name only: it resolves to 127.0.0.1, which only a literal
    // entry may reach (the same check refuses a public name an attacker points at 127.0.0.1).
    let site = WebServer::start(1);
    let grants = http_grant(&[format!("http://localhost:{}", site.port())], 20, 1 << 20);
    let (fetched, denied) =
        fetch(&[format!("http://localhost:{}/small", site.port())], grants).await;
    assert_refused(&fetched[0], "destination-IP-prohibited");
    assert_eq!((denied, site.total_hits()), (1, 0));
}

#[tokio::test]
async fn the_metadata_address_needs_a_literal_entry_and_ipv6_loopback_too() {
    // A wildcard or a name never stands for these: only the literal entry matches them, so the
    // refusal comes from the allow-list even when a name entry would cover the port.
    let grants = http_grant(
        &[
            "http://localhost".to_owned(),
            "http://*.example.org".to_owned(),
        ],
        20,
        1 << 20,
    );
    let urls = [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "http://[::1]/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
    ];
    let (fetched, denied) = fetch(&urls, grants).await;
    for entry in &fetched {
        assert_refused(entry, "HTTP-request-denied");
    }
    assert_eq!(denied, 4);
}

#[tokio::test]
async fn redirects_are_not_followed_and_their_target_is_checked_again() {
    let site = WebServer::start(1);
    let other = WebServer::start(1);
    let target = format!("{}/small", other.base());
    let redirect = format!("{}/redirect?to={target}", site.base());
    let (fetched, denied) = fetch(&[redirect, target.clone()], literal(&site)).await;
    // The host hands the 302 back; the guest following it is a new request, refused.
    assert_eq!(fetched[0]["ok"]["status"], 302, "{fetched:?}");
    assert_eq!(fetched[0]["ok"]["location"], target.as_str(), "{fetched:?}");
    assert_refused(&fetched[1], "HTTP-request-denied");
    assert_eq!(
        (denied, site.hits("/redirect"), other.total_hits()),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn the_request_count_is_capped_per_task() {
    let site = WebServer::start(1);
    let url = format!("{}/small", site.base());
    let grants = http_grant(&[site.base()], 2, 1 << 20);
    let (fetched, denied) = fetch(&[url.clone(), url.clone(), url.clone()], grants.clone()).await;
    assert_eq!(fetched[1]["ok"]["status"], 200, "{fetched:?}");
    assert_refused(&fetched[2], "connection-limit-reached");
    assert_eq!((denied, site.hits("/small")), (1, 2));
    // The cap is per task: the next task has its own.
    let (fetched, denied) = fetch(&[url], grants).await;
    assert_eq!(
        (fetched[0]["ok"]["status"].clone(), denied),
        (json!(200), 0)
    );
}

#[tokio::test]
async fn response_bytes_are_capped_per_task() {
    let site = WebServer::start(1);
    let cap = (BIG_BYTES / 4) as u64;
    let grants = http_grant(&[site.base()], 20, cap);
    let urls = [
        format!("{}/small", site.base()),
        format!("{}/big", site.base()),
    ];
    let (fetched, denied) = fetch(&urls, grants).await;
    assert_eq!(fetched[0]["ok"]["status"], 200, "{fetched:?}");
    assert_refused(&fetched[1], "HTTP-response-body-size");
    assert_eq!(denied, 1);
}

#[tokio::test]
async fn a_0_1_0_component_runs_unchanged_with_grants_present() {
    let site = WebServer::start(1);
    let report = run("echo_v1", json!({ "x": 1 }), literal(&site)).await;
    let result = ok_json(&report);
    assert_eq!(
        (result["version"].clone(), result["payload"]["x"].clone()),
        (json!("v1"), json!(1))
    );
    assert_eq!(report.denied, 0);
}

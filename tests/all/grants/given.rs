//! Config values and secrets reach the guest only when granted; without grants every 0.2.0
//! import is refused with a typed error, counted, and the refusal never carries a secret.

use serde_json::json;
use wasmboost_runtime::{Grants, Secret};

use super::{ok_json, run};

/// A value no error, log or record may ever contain.
const SECRET: &str = "s3cr3t-7f1d9a";

fn granted() -> Grants {
    let mut grants = Grants::default();
    grants
        .config
        .insert("USER_AGENT".into(), "wasmboost-crawler".into());
    grants.secrets.insert("API_KEY".into(), Secret::new(SECRET));
    grants
}

#[tokio::test]
async fn granted_values_and_secrets_reach_the_guest() {
    let payload = json!({ "config": ["USER_AGENT"], "secrets": ["API_KEY"] });
    let report = run("granted", payload, granted()).await;
    let result = ok_json(&report);
    assert_eq!(result["config"][0]["ok"], "wasmboost-crawler", "{result}");
    // The guest reports the secret's length: it received the value itself.
    assert_eq!(result["secrets"][0]["ok"], SECRET.len(), "{result}");
    assert_eq!(report.denied, 0);
}

#[tokio::test]
async fn names_not_granted_are_denied_without_showing_any_secret() {
    let payload = json!({ "config": ["API_KEY", "OTHER"], "secrets": ["USER_AGENT", "NOPE"] });
    let report = run("granted", payload, granted()).await;
    let result = ok_json(&report);
    for entry in [
        &result["config"][0],
        &result["config"][1],
        &result["secrets"][0],
        &result["secrets"][1],
    ] {
        assert_eq!(entry["denied"], true, "{entry}");
    }
    assert_eq!(report.denied, 4);
    let everything = format!("{report:?}");
    assert!(
        !everything.contains(SECRET),
        "the secret leaked: {everything}"
    );
}

#[tokio::test]
async fn without_grants_every_import_is_denied_and_counted() {
    let payload = json!({
        "config": ["A"], "secrets": ["B"], "publish": [["other", {"x": 1}]],
        "incr": ["pages"], "cas": ["seen"], "fetch": ["http://127.0.0.1:9/"],
    });
    let report = run("granted", payload, Grants::default()).await;
    let result = ok_json(&report);
    for key in ["config", "secrets", "publish", "incr", "cas", "fetch"] {
        assert_eq!(result[key][0]["denied"], true, "{key}: {result}");
    }
    assert_eq!(report.denied, 6);
}

#[tokio::test]
async fn publish_is_refused_to_queues_not_on_the_list() {
    let grants = Grants {
        publish_to: vec!["index".into()],
        ..Grants::default()
    };
    let payload = json!({ "publish": [["crawl", {"x": 1}], ["index", {"x": 2}]] });
    let report = run("granted", payload, grants).await;
    let result = ok_json(&report);
    assert_eq!(result["publish"][0]["denied"], true, "{result}");
    // Allowed, but this runtime has no broker behind it: `unavailable`, not denied.
    assert_eq!(result["publish"][1]["denied"], false, "{result}");
    assert!(
        result["publish"][1]["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("unavailable"),
        "{result}"
    );
    assert_eq!(report.denied, 1);
}

//! Random methods, paths, headers and bodies against the API: never a 500, every error JSON,
//! and the server still answers afterwards.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;

use super::{ErrorBody, start};

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "FROB",
];
const TEMPLATES: &[&str] = &[
    "/v1/queues/{}/messages",
    "/v1/queues/{}/messages:batch",
    "/v1/queues/{}/module",
    "/v1/queues/{}/rollback",
    "/v1/queues/{}/pause",
    "/v1/queues/{}/dlq",
    "/v1/queues/{}/dlq/replay",
    "/v1/tasks/{}",
    "/v1/tasks/{}/result",
    "/v1/tokens/{}",
    "/v1/{}",
    "/{}",
];
const TYPES: &[&str] = &[
    "application/json",
    "application/wasm",
    "application/x-ndjson",
    "text/plain",
    "multipart/form-data; boundary=x",
    "",
];
const QUERIES: &[&str] = &[
    "",
    "?wait=5",
    "?priority=99",
    "?countdown=-1",
    "?limit=x",
    "?eta=now",
    "?task_id=%00",
];

#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    path: String,
    content_type: &'static str,
    authorization: Option<String>,
    origin: Option<&'static str>,
    body: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(METHODS),
        prop::sample::select(TEMPLATES),
        "[a-zA-Z0-9._~%:-]{0,24}",
        prop::sample::select(QUERIES),
        prop::sample::select(TYPES),
        prop::option::of("(Bearer )?(wbt_)?[0-9a-f_]{0,90}"),
        prop::option::of(prop::sample::select(
            &["null", "https://evil.example", "http://127.0.0.1"][..],
        )),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2048),
            "\\{\"[a-z]{1,4}\": ?[0-9a-z\"]{0,8}\\}\n?".prop_map(String::into_bytes),
        ],
    )
        .prop_map(
            |(method, template, segment, query, content_type, authorization, origin, body)| Case {
                method,
                path: format!("{}{query}", template.replace("{}", &segment)),
                content_type,
                authorization,
                origin,
                body,
            },
        )
}

#[test]
fn random_requests_never_get_a_500_and_errors_are_json() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (addr, _stop, _) = runtime.block_on(start());
    super::install_tls_provider();
    let http = reqwest::Client::new();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| {
        let Ok(url) = reqwest::Url::parse(&format!("{addr}{}", case.path)) else {
            return Ok(());
        };
        let method = Method::from_bytes(case.method.as_bytes()).expect("valid method tokens");
        let mut request = http.request(method.clone(), url).body(case.body.clone());
        if !case.content_type.is_empty() {
            request = request.header("content-type", case.content_type);
        }
        if let Some(auth) = &case.authorization {
            request = request.header("authorization", auth);
        }
        if let Some(origin) = case.origin {
            request = request.header("origin", origin);
        }
        let (status, body) = runtime.block_on(async {
            let response = request.send().await.expect("the server answers");
            let status = response.status().as_u16();
            (status, response.bytes().await.unwrap_or_default())
        });
        // The fake answers 503 for history by design; anything else 5xx is a bug.
        prop_assert!(
            status != 500 && (status < 500 || status == 503),
            "{case:?} -> {status}"
        );
        if status >= 400 && method != Method::HEAD {
            let parsed = serde_json::from_slice::<ErrorBody>(&body);
            prop_assert!(
                parsed.is_ok(),
                "{case:?} -> {status} {:?}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok::<(), TestCaseError>(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    let healthy = runtime.block_on(async {
        http.get(format!("{addr}/healthz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(healthy.ok(), Some(200), "the server still answers");
}

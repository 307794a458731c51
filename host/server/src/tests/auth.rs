//! Auth, the browser guard and bounded bodies, against the fake host over a real socket.

use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{CAP, Fake, MESSAGE_CAP, client, error_of, start, start_with};
use crate::audit::AuditEntry;
use crate::{CreatedToken, ServeOptions};

async fn mint(
    client: &Client,
    addr: &str,
    admin: Option<&str>,
    body: serde_json::Value,
) -> CreatedToken {
    let mut request = client.post(format!("{addr}/v1/tokens")).json(&body);
    if let Some(admin) = admin {
        request = request.bearer_auth(admin);
    }
    let response = request.send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::CREATED, "{body}");
    response.json().await.expect("a created token")
}

async fn status(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.expect("answers");
    let status = response.status().as_u16();
    let body = response.text().await.expect("text");
    (status, body)
}

#[tokio::test]
async fn first_token_must_be_admin_then_every_route_needs_a_token() {
    let (addr, _stop, _) = start().await;
    let c = client();
    assert_eq!(
        status(c.get(format!("{addr}/v1/queues"))).await.0,
        200,
        "open before any token"
    );
    let (code, body) = status(
        c.post(format!("{addr}/v1/tokens"))
            .json(&json!({"scopes": ["read"]})),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("admin"), "{body}");
    let admin = mint(&c, &addr, None, json!({"scopes": ["admin"]})).await;
    assert!(admin.token.starts_with("wbt_"), "{}", admin.token);

    let response = c
        .get(format!("{addr}/v1/queues"))
        .send()
        .await
        .expect("answers");
    let (code, body) = error_of(response).await;
    assert_eq!((code, body.error.code.as_str()), (401, "unauthorized"));
    for path in ["/metrics", "/v1/tasks/t0", "/v1/tokens", "/v1/audit"] {
        assert_eq!(
            status(c.get(format!("{addr}{path}"))).await.0,
            401,
            "{path}"
        );
    }
    let (code, _) = status(c.post(format!("{addr}/v1/queues/add/messages")).body("{}")).await;
    assert_eq!(code, 401, "publish without a token");
    assert_eq!(
        status(c.get(format!("{addr}/healthz"))).await.0,
        200,
        "healthz stays open"
    );
    let (code, _) = status(c.get(format!("{addr}/v1/queues")).bearer_auth(&admin.token)).await;
    assert_eq!(code, 200);
    let flipped = if admin.token.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{flipped}", &admin.token[..admin.token.len() - 1]);
    let (code, _) = status(c.get(format!("{addr}/v1/queues")).bearer_auth(&forged)).await;
    assert_eq!(code, 401, "wrong secret");
    let (code, body) = status(
        c.post(format!("{addr}/v1/tokens"))
            .json(&json!({"scopes": ["admin"]})),
    )
    .await;
    assert_eq!(code, 401, "no second bootstrap: {body}");
}

#[tokio::test]
async fn scopes_queue_limits_expiry_and_revocation() {
    let (addr, _stop, _) = start().await;
    let c = client();
    let admin = mint(&c, &addr, None, json!({"scopes": ["admin"]}))
        .await
        .token;
    let publish_a = mint(
        &c,
        &addr,
        Some(&admin),
        json!({"scopes": ["publish"], "queues": ["add"]}),
    )
    .await
    .token;
    let read = mint(&c, &addr, Some(&admin), json!({"scopes": ["read"]}))
        .await
        .token;
    let deploy = mint(&c, &addr, Some(&admin), json!({"scopes": ["deploy"]}))
        .await
        .token;
    let expired = mint(
        &c,
        &addr,
        Some(&admin),
        json!({"scopes": ["admin"], "expires_in_secs": 0}),
    )
    .await
    .token;

    let publish = |queue: &str, token: &str| {
        c.post(format!(
            "{addr}/v1/queues/{queue}/messages?task_id=p-{queue}"
        ))
        .body("{}")
        .bearer_auth(token)
    };
    assert_eq!(status(publish("add", &publish_a)).await.0, 202);
    let response = publish("other", &publish_a).send().await.expect("answers");
    let (code, body) = error_of(response).await;
    assert_eq!((code, body.error.code.as_str()), (403, "forbidden"));
    assert!(
        body.error.message.contains("other"),
        "{}",
        body.error.message
    );
    assert_eq!(
        status(publish("add", &read)).await.0,
        403,
        "read cannot publish"
    );
    assert_eq!(
        status(
            c.get(format!("{addr}/v1/tasks/p-add"))
                .bearer_auth(&publish_a)
        )
        .await
        .0,
        200,
        "own queue's task"
    );
    assert_eq!(
        status(c.get(format!("{addr}/v1/queues")).bearer_auth(&publish_a))
            .await
            .0,
        403
    );
    assert_eq!(
        status(c.get(format!("{addr}/v1/queues")).bearer_auth(&read))
            .await
            .0,
        200
    );
    assert_eq!(
        status(c.get(format!("{addr}/metrics")).bearer_auth(&read))
            .await
            .0,
        200
    );
    let deploy_req = |token: &str| {
        c.put(format!("{addr}/v1/queues/add/module"))
            .header("content-type", "application/wasm")
            .body(vec![0u8; 8])
            .bearer_auth(token)
    };
    assert_eq!(status(deploy_req(&read)).await.0, 403);
    assert_eq!(status(deploy_req(&deploy)).await.0, 201);
    assert_eq!(
        status(
            c.post(format!("{addr}/v1/queues/add/pause"))
                .bearer_auth(&deploy)
        )
        .await
        .0,
        200
    );
    assert_eq!(
        status(
            c.delete(format!("{addr}/v1/queues/add/dlq"))
                .bearer_auth(&deploy)
        )
        .await
        .0,
        403,
        "purge is admin"
    );
    assert_eq!(
        status(c.get(format!("{addr}/v1/tokens")).bearer_auth(&deploy))
            .await
            .0,
        403
    );

    let response = c
        .get(format!("{addr}/v1/queues"))
        .bearer_auth(&expired)
        .send()
        .await
        .expect("answers");
    let (code, body) = error_of(response).await;
    assert_eq!(code, 401);
    assert!(
        body.error.message.contains("expired"),
        "{}",
        body.error.message
    );

    let id = read.split('_').nth(1).expect("wbt_<id>_<secret>");
    let (code, body) = status(
        c.delete(format!("{addr}/v1/tokens/{id}"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        status(c.get(format!("{addr}/v1/queues")).bearer_auth(&read))
            .await
            .0,
        401,
        "revoked at once here"
    );
    assert_eq!(
        status(
            c.delete(format!("{addr}/v1/tokens/{id}"))
                .bearer_auth(&admin)
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn audit_names_who_did_what() {
    let (addr, _stop, _) = start().await;
    let c = client();
    let admin = mint(&c, &addr, None, json!({"scopes": ["admin"]}))
        .await
        .token;
    let admin_id = admin.split('_').nth(1).expect("id").to_owned();
    let (code, _) = status(
        c.put(format!("{addr}/v1/queues/add/module"))
            .header("content-type", "application/wasm")
            .body(vec![1u8; 4])
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(code, 201);
    let entries: Vec<AuditEntry> = c
        .get(format!("{addr}/v1/audit"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    let deploy = entries
        .iter()
        .find(|e| e.action == "deploy")
        .expect("a deploy entry");
    assert_eq!(deploy.who, admin_id);
    assert_eq!(deploy.queue.as_deref(), Some("add"));
    assert_eq!(deploy.sha256.as_deref(), Some("ab".repeat(32).as_str()));
    let created = entries
        .iter()
        .find(|e| e.action == "token.create")
        .expect("token entry");
    assert_eq!(
        created.who, "local",
        "the bootstrap token was made in open mode"
    );
}

#[tokio::test]
async fn beyond_loopback_without_tokens_only_the_loopback_bootstrap_works() {
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(crate::serve(
        Fake::default(),
        listener,
        ServeOptions::default(),
        async move {
            let _ = rx.await;
        },
    ));
    let addr = format!("http://127.0.0.1:{port}");
    let c = client();
    let (code, body) = status(c.get(format!("{addr}/v1/queues"))).await;
    assert_eq!(code, 401, "no open mode off loopback: {body}");
    let admin = mint(&c, &addr, None, json!({"scopes": ["admin"]}))
        .await
        .token;
    let (code, _) = status(
        c.get(format!("{addr}/v1/queues"))
            .header("host", "wasmboost.example:7878")
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(
        code, 200,
        "any Host once a token authenticates off loopback"
    );
    drop(tx);
}

#[tokio::test]
async fn browsers_cannot_drive_the_host() {
    let (addr, _stop, _) = start().await;
    super::install_tls_provider();
    let plain = Client::new();
    let response = plain
        .post(format!("{addr}/v1/queues/add/pause"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("answers");
    let (code, body) = error_of(response).await;
    assert_eq!(
        (code, body.error.code.as_str()),
        (415, "unsupported_media_type")
    );
    let (code, _) = status(plain.post(format!("{addr}/v1/queues/add/dlq/replay"))).await;
    assert_eq!(code, 415, "no content type at all");
    let response = client()
        .post(format!("{addr}/v1/queues/add/messages"))
        .header("origin", "https://evil.example")
        .body("{}")
        .send()
        .await
        .expect("answers");
    let (code, body) = error_of(response).await;
    assert_eq!((code, body.error.code.as_str()), (403, "foreign_origin"));
    let response = plain
        .put(format!("{addr}/v1/queues/add/module"))
        .header("host", "attacker.example")
        .header("content-type", "application/wasm")
        .body(vec![0u8; 8])
        .send()
        .await
        .expect("answers");
    let (code, body) = error_of(response).await;
    assert_eq!(
        (code, body.error.code.as_str()),
        (403, "foreign_host"),
        "DNS rebinding deploy"
    );
}

#[tokio::test]
async fn oversized_bodies_are_json_413s_and_errors_are_always_json() {
    let (addr, _stop, _) = start().await;
    let c = client();
    let response = c
        .post(format!("{addr}/v1/queues/add/messages"))
        .body(vec![b' '; MESSAGE_CAP as usize + 1])
        .send()
        .await
        .expect("answers");
    let (code, body) = error_of(response).await;
    assert_eq!((code, body.error.code.as_str()), (413, "too_large"));
    assert!(
        body.error.message.contains("host.max_message_bytes"),
        "{}",
        body.error.message
    );
    // Chunked: cut off once past the cap, not after the whole stream.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..100).map(|_| Ok(vec![b' '; 1000])).collect();
    let response = c
        .post(format!("{addr}/v1/queues/add/messages"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("answers");
    assert_eq!(error_of(response).await.0, 413);
    let response = c
        .request(Method::PATCH, format!("{addr}/v1/queues"))
        .send()
        .await
        .expect("answers");
    let (code, body) = error_of(response).await;
    assert_eq!(
        (code, body.error.code.as_str()),
        (405, "method_not_allowed")
    );
    let module_cap = CAP;
    let response = c
        .put(format!("{addr}/v1/queues/add/module"))
        .header("content-type", "application/wasm")
        .body(vec![0u8; module_cap as usize + 1])
        .send()
        .await
        .expect("answers");
    assert_eq!(error_of(response).await.0, 413);
}

#[tokio::test]
async fn a_trickling_body_gets_408_and_a_trickling_head_is_cut_off() {
    let options = ServeOptions {
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    };
    let (addr, _stop, _) = start_with(Fake::default(), options).await;
    let first: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(b"{".to_vec())];
    let stalled =
        futures::StreamExt::chain(futures::stream::iter(first), futures::stream::pending());
    let started = Instant::now();
    let response = client()
        .post(format!("{addr}/v1/queues/add/messages"))
        .body(reqwest::Body::wrap_stream(stalled))
        .send()
        .await
        .expect("answers");
    let (code, body) = error_of(response).await;
    assert_eq!((code, body.error.code.as_str()), (408, "timeout"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let host = addr.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(host).await.expect("connect");
    let started = Instant::now();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    // Never finish the head: the server must close the connection on its own.
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "connection still open after 10 s");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn whoami_tells_a_token_its_scopes_and_the_ui_needs_none() {
    let (addr, _stop, _) = start().await;
    let c = client();
    let (code, body) = status(c.get(format!("{addr}/v1/whoami"))).await;
    assert_eq!(code, 200, "{body}");
    let local: crate::routes::tokens::WhoAmI = serde_json::from_str(&body).expect("whoami");
    assert!(!local.authenticated && local.scopes.len() == 4, "{body}");

    let admin = mint(&c, &addr, None, json!({"scopes": ["admin"]})).await;
    let publisher = mint(
        &c,
        &addr,
        Some(&admin.token),
        json!({"scopes": ["publish"], "queues": ["add"]}),
    )
    .await;
    let (code, body) = status(
        c.get(format!("{addr}/v1/whoami"))
            .bearer_auth(&publisher.token),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let me: crate::routes::tokens::WhoAmI = serde_json::from_str(&body).expect("whoami");
    assert_eq!(me.id, publisher.info.id);
    assert_eq!(me.scopes, vec![crate::auth::Scope::Publish]);
    assert_eq!(me.queues, vec!["add".to_owned()]);
    assert!(me.authenticated);
    assert!(!body.contains(&publisher.token), "no secret: {body}");
    let (code, _) = status(c.get(format!("{addr}/v1/whoami"))).await;
    assert_eq!(code, 401, "whoami needs a token once tokens exist");
    let (code, _) = status(c.get(format!("{addr}/v1/whoami")).bearer_auth("wbt_x_y")).await;
    assert_eq!(code, 401);

    for path in ["/ui", "/ui/", "/ui/app.js"] {
        let response = c
            .get(format!("{addr}{path}"))
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status(), StatusCode::OK, "{path} is open");
        let csp = response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(csp, crate::ui::CONTENT_SECURITY_POLICY, "{path}");
    }
    let (code, _) = status(
        c.post(format!("{addr}/ui/app.js"))
            .header("content-type", "application/json")
            .bearer_auth(&admin.token)
            .body("{}"),
    )
    .await;
    assert_eq!(code, 405, "the assets are read-only");
}

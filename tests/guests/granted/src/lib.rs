//! A 0.2.0 task that exercises every grant and reports what each call returned, so tests can
//! check both what a grant allows and how a refusal reaches the guest: `{"ok": ...}` or
//! `{"error": ..., "denied": bool}` per call, in the order asked.

use serde_json::{Value, json};
use wasmboost_guest::{config, http, kv};

fn http_result(result: Result<http::Response, http::HttpError>) -> Value {
    match result {
        Ok(resp) => json!({
            "ok": { "status": resp.status(), "len": resp.bytes().len(), "location": resp.header("location") }
        }),
        Err(err) => json!({ "error": err.code(), "denied": err.is_denied() }),
    }
}

fn grant_result<T: Into<Value>>(result: Result<T, wasmboost_guest::GrantError>) -> Value {
    match result {
        Ok(v) => json!({ "ok": v.into() }),
        Err(err) => json!({ "error": err.to_string(), "denied": err.is_denied() }),
    }
}

/// Each list names calls to make; the result has one entry per call under the same key.
#[wasmboost_guest::task]
fn granted(
    #[default] fetch: Vec<String>,
    #[default] config: Vec<String>,
    #[default] secrets: Vec<String>,
    #[default] publish: Vec<(String, Value)>,
    #[default] incr: Vec<String>,
    #[default] cas: Vec<String>,
    #[default] files: Vec<(String, Option<String>)>,
) -> Value {
    let fetch: Vec<Value> = fetch
        .iter()
        .map(|url| http_result(http::get(url)))
        .collect();
    let config_values: Vec<Value> = config
        .iter()
        .map(|n| grant_result(config::get(n)))
        .collect();
    let secret_values: Vec<Value> = secrets
        .iter()
        .map(|n| grant_result(config::secret(n).map(|s| s.len() as u64)))
        .collect();
    let published: Vec<Value> = publish
        .iter()
        .map(|(queue, args)| grant_result(wasmboost_guest::publish(queue, args)))
        .collect();
    let incr: Vec<Value> = incr
        .iter()
        .map(|k| grant_result(kv::increment(k, 1)))
        .collect();
    let cas: Vec<Value> = cas
        .iter()
        .map(|k| grant_result(kv::compare_and_swap(k, None, b"1")))
        .collect();
    let files: Vec<Value> = files
        .iter()
        .map(|(path, write)| file(path, write.as_deref()))
        .collect();
    json!({
        "fetch": fetch, "config": config_values, "secrets": secret_values,
        "publish": published, "incr": incr, "cas": cas, "files": files,
    })
}

/// Reads `path`, or writes `content` to it, or (`@link:SOURCE`) hard-links `SOURCE` to it.
fn file(path: &str, content: Option<&str>) -> Value {
    let result = match content {
        Some(text) => match text.strip_prefix("@link:") {
            Some(source) => std::fs::hard_link(source, path).map(|()| Value::Null),
            None => std::fs::write(path, text).map(|()| Value::Null),
        },
        None => std::fs::read_to_string(path).map(Value::from),
    };
    match result {
        Ok(v) => json!({ "ok": v }),
        Err(err) => json!({ "error": err.to_string() }),
    }
}

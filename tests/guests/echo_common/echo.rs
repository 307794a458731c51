// Shared body of `echo_v1` and `echo_v2` (included, each crate defines `VERSION` first): returns
// `{"version": VERSION, "payload": <the payload>, "task_id": .., "attempt": ..}` so redeploy tests
// can tell which version ran a message.

wit_bindgen::generate!({ path: "../../../wit/0.1.0", world: "task" });


struct Echo;

impl Guest for Echo {
    fn handle(ctx: Context, payload: String) -> Result<String, TaskError> {
        let payload: serde_json::Value = serde_json::from_str(&payload)
            .map_err(|err| TaskError::Fail(format!("payload is not JSON: {err}")))?;
        let out = serde_json::json!({
            "version": VERSION,
            "payload": payload,
            "task_id": ctx.task_id,
            "queue": ctx.queue,
            "attempt": ctx.attempt,
        });
        Ok(out.to_string())
    }
}

export!(Echo);

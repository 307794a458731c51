//! The floor on contract 0.2.0: the same body as `floor` (raw bindings, no SDK, no serde,
//! returns `3`) built against `wit/0.2.0`, so the per-invocation cost of a 0.2.0 component
//! that uses no grant can be compared with a 0.1.0 one (`scripts/callgrind.sh invoke`).

#![expect(
    clippy::too_many_arguments,
    reason = "the generated export glue spreads the context"
)]

wit_bindgen::generate!({ path: "../../../wit/0.2.0", world: "task" });

struct Floor;

impl Guest for Floor {
    fn handle(_ctx: Context, _payload: String) -> Result<String, TaskError> {
        Ok(String::from("3"))
    }
}

export!(Floor);

//! The floor: the cheapest possible task (raw bindings, no SDK, no serde) returning `3`, so a
//! benchmark can tell the host's own cost from the SDK's.

wit_bindgen::generate!({ path: "../../../wit/0.1.0", world: "task" });


struct Floor;

impl Guest for Floor {
    fn handle(_ctx: Context, _payload: String) -> Result<String, TaskError> {
        Ok(String::from("3"))
    }
}

export!(Floor);

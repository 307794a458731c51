//! Returns text that is not JSON: the host must report a `fail`, not a host error.

wit_bindgen::generate!({ path: "../../../wit/0.1.0", world: "task" });


struct BadJson;

impl Guest for BadJson {
    fn handle(_ctx: Context, _payload: String) -> Result<String, TaskError> {
        Ok(String::from("{not json"))
    }
}

export!(BadJson);

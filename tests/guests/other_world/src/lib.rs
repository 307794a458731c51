//! A valid component of another world (`other:thing/other`, exporting `run`, not `handle`):
//! the host must reject it and name what is missing.

wit_bindgen::generate!({
    inline: r#"
        package other:thing@0.1.0;

        world other {
            export run: func(input: string) -> string;
        }
    "#,
    world: "other",
});

struct Other;

impl Guest for Other {
    fn run(input: String) -> String {
        input
    }
}

export!(Other);

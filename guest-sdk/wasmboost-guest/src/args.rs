//! Decoding the JSON payload into the task function's arguments.
//!
//! The payload is scanned once into borrowed raw values (one per declared parameter); each
//! argument is then decoded straight into its Rust type, so no intermediate JSON tree is built.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::TaskError;

/// The payload key that carries delivery metadata, never an argument.
const EXTRA: &str = "extra";

/// One declared parameter of the task function: its JSON key and its Rust type as written.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// The parameter's name, which is its key in the payload.
    pub name: &'static str,
    /// The parameter's type as written in the source, for error messages.
    pub ty: &'static str,
}

/// The payload split into one raw JSON value per declared parameter.
#[derive(Debug)]
pub struct Args<'a> {
    params: &'static [Param],
    values: Vec<Option<&'a RawValue>>,
}

impl<'a> Args<'a> {
    /// Split `payload` by the task's parameters. Fails on a payload that is not a JSON object,
    /// an unknown key or a key given twice.
    pub fn parse(payload: &'a str, params: &'static [Param]) -> Result<Args<'a>, TaskError> {
        let mut de = serde_json::Deserializer::from_str(payload);
        let scan = (&mut de)
            .deserialize_map_seed(params)
            .and_then(|scan| de.end().map(|()| scan))
            .map_err(|err| {
                TaskError::fail(format!(
                    "the payload must be a JSON object of arguments: {err}"
                ))
            })?;
        if let Some(problem) = scan.problem {
            return Err(TaskError::fail(problem.describe(params)));
        }
        Ok(Args {
            params,
            values: scan.values,
        })
    }

    /// Decode parameter `index`. When it is absent, a type that accepts `null` (an `Option`)
    /// takes that value; any other type fails as a missing argument.
    pub fn take<T: Deserialize<'a>>(&mut self, index: usize) -> Result<T, TaskError> {
        let param = self.params[index];
        match self.values[index].take() {
            Some(raw) => decode(param, raw.get()),
            None => serde_json::from_str("null").map_err(|_| {
                TaskError::fail(format!(
                    "missing argument `{}` (expected {})",
                    param.name, param.ty
                ))
            }),
        }
    }

    /// Decode parameter `index`, or call `default` when it is absent.
    pub fn take_or<T: Deserialize<'a>>(
        &mut self,
        index: usize,
        default: impl FnOnce() -> T,
    ) -> Result<T, TaskError> {
        let param = self.params[index];
        match self.values[index].take() {
            Some(raw) => decode(param, raw.get()),
            None => Ok(default()),
        }
    }
}

fn decode<'a, T: Deserialize<'a>>(param: Param, raw: &'a str) -> Result<T, TaskError> {
    serde_json::from_str(raw).map_err(|err| {
        let mut detail = err.to_string();
        // The position is inside the argument's own text, not the payload: it only confuses.
        if let Some(at) = detail.rfind(" at line ") {
            detail.truncate(at);
        }
        TaskError::fail(format!(
            "argument `{}` must be {}: {detail}",
            param.name, param.ty
        ))
    })
}

/// What one pass over the payload found.
struct Scan<'a> {
    values: Vec<Option<&'a RawValue>>,
    problem: Option<Problem>,
}

/// The first key that is not an argument of this task.
enum Problem {
    Unknown(String),
    Duplicate(&'static str),
}

impl Problem {
    fn describe(&self, params: &[Param]) -> String {
        match self {
            Problem::Duplicate(name) => format!("argument `{name}` is given twice"),
            Problem::Unknown(name) => {
                let takes: Vec<String> = params
                    .iter()
                    .map(|p| format!("{}: {}", p.name, p.ty))
                    .collect();
                let takes = if takes.is_empty() {
                    "no arguments".to_owned()
                } else {
                    takes.join(", ")
                };
                format!("unknown argument `{name}` (the task takes {takes})")
            }
        }
    }
}

trait DeserializeMapSeed<'de> {
    fn deserialize_map_seed(self, params: &'static [Param]) -> serde_json::Result<Scan<'de>>;
}

impl<'de> DeserializeMapSeed<'de> for &mut serde_json::Deserializer<serde_json::de::StrRead<'de>> {
    fn deserialize_map_seed(self, params: &'static [Param]) -> serde_json::Result<Scan<'de>> {
        de::Deserializer::deserialize_map(self, ScanVisitor { params })
    }
}

struct ScanVisitor {
    params: &'static [Param],
}

impl<'de> Visitor<'de> for ScanVisitor {
    type Value = Scan<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object whose keys are the task's arguments")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scan<'de>, A::Error> {
        let mut scan = Scan {
            values: vec![None; self.params.len()],
            problem: None,
        };
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let index = self.params.iter().position(|p| p.name == key);
            match index {
                Some(i) if scan.values[i].is_none() => {
                    scan.values[i] = Some(map.next_value()?);
                }
                Some(i) => {
                    map.next_value::<IgnoredAny>()?;
                    scan.problem
                        .get_or_insert(Problem::Duplicate(self.params[i].name));
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                    if key != EXTRA {
                        scan.problem
                            .get_or_insert(Problem::Unknown(key.into_owned()));
                    }
                }
            }
        }
        Ok(scan)
    }
}

/// Reads a key without copying it unless it contains escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an argument name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PARAMS: &[Param] = &[
        Param {
            name: "x",
            ty: "i64",
        },
        Param {
            name: "y",
            ty: "Option<i64>",
        },
    ];

    fn reason<T: std::fmt::Debug>(r: Result<T, TaskError>) -> String {
        r.expect_err("the payload is invalid").reason().to_owned()
    }

    #[test]
    fn reads_arguments_and_skips_extra() {
        let mut args = Args::parse(r#"{"extra":{"task_id":"t"},"x":3}"#, PARAMS).expect("valid");
        assert_eq!(args.take::<i64>(0).expect("x given"), 3);
        assert_eq!(args.take::<Option<i64>>(1).expect("y optional"), None);
    }

    #[test]
    fn names_missing_mistyped_unknown_and_duplicate_arguments() {
        let mut args = Args::parse("{}", PARAMS).expect("empty object");
        assert_eq!(
            reason(args.take::<i64>(0)),
            "missing argument `x` (expected i64)"
        );
        let mut args = Args::parse(r#"{"x":"a"}"#, PARAMS).expect("object");
        assert!(reason(args.take::<i64>(0)).starts_with("argument `x` must be i64: invalid type"));
        let msg = reason(Args::parse(r#"{"x":1,"z":2}"#, PARAMS));
        assert_eq!(
            msg,
            "unknown argument `z` (the task takes x: i64, y: Option<i64>)"
        );
        let msg = reason(Args::parse(r#"{"x":1,"x":2}"#, PARAMS));
        assert_eq!(msg, "argument `x` is given twice");
        let msg = reason(Args::parse("[1]", PARAMS));
        assert!(
            msg.starts_with("the payload must be a JSON object"),
            "{msg}"
        );
    }
}

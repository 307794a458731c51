//! Reading the shapes of Redis replies (`redis::Value`) this crate expects.

use redis::Value;
use wasmboost_broker::BrokerError;

use crate::error::corrupt;
use crate::fields::Entry;

pub(crate) fn array(v: Value, what: &str) -> Result<Vec<Value>, BrokerError> {
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(corrupt(what, format!("expected an array, got {other:?}"))),
    }
}

pub(crate) fn bytes(v: Value, what: &str) -> Result<Vec<u8>, BrokerError> {
    match v {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::Int(n) => Ok(n.to_string().into_bytes()),
        other => Err(corrupt(what, format!("expected a string, got {other:?}"))),
    }
}

pub(crate) fn string(v: Value, what: &str) -> Result<String, BrokerError> {
    String::from_utf8(bytes(v, what)?).map_err(|e| corrupt(what, e.to_string()))
}

pub(crate) fn int(v: Value, what: &str) -> Result<i64, BrokerError> {
    match v {
        Value::Int(n) => Ok(n),
        Value::BulkString(b) => std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| corrupt(what, "expected an integer")),
        other => Err(corrupt(what, format!("expected an integer, got {other:?}"))),
    }
}

/// `[id, [field, value, ...]]`, as XRANGE and XREADGROUP return each entry.
pub(crate) fn entry(v: Value, what: &str) -> Result<Entry, BrokerError> {
    let mut parts = array(v, what)?.into_iter();
    let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
        return Err(corrupt(what, "a stream entry needs an id and fields"));
    };
    let mut flat = array(fields, what)?.into_iter();
    let mut pairs = Vec::new();
    while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
        pairs.push((bytes(k, what)?, bytes(v, what)?));
    }
    Ok(Entry {
        id: string(id, what)?,
        fields: pairs,
    })
}

pub(crate) fn entries(v: Value, what: &str) -> Result<Vec<Entry>, BrokerError> {
    array(v, what)?
        .into_iter()
        .map(|e| entry(e, what))
        .collect()
}

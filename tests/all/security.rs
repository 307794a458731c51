//! Integration tests of issue 11 (trust no caller), a module per area.
//!
//! - `names`: namespaces that cannot collide: key-layout words as task ids and queue names,
//!   bad queue names and task ids at every entry point, RabbitMQ names.

mod names;

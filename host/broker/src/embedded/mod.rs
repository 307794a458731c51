//! placeholder
#[derive(Debug)]
pub struct EmbeddedBroker;
#[derive(Debug)]
pub struct EmbeddedStore;
pub fn open() {}

//! Connects to `127.0.0.1:port` and reports what happened: with no network capability the
//! connection must fail, and the listener the test started must see nothing.

use std::io::Write;
use std::net::{Ipv4Addr, TcpStream};

use serde_json::{Value, json};

/// `{"connected": false, "error": "..."}` in a sandbox.
#[wasmboost_guest::task]
fn tcp(port: u16) -> Value {
    match TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
        Ok(mut stream) => {
            let sent = stream.write_all(b"hello from the sandbox\n").is_ok();
            json!({ "connected": true, "sent": sent })
        }
        Err(err) => json!({ "connected": false, "error": err.to_string() }),
    }
}

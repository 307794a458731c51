//! A foreign producer on NATS: `nats-py` publishing bare JSON to a queue's band subject with
//! JetStream (as `host/broker-nats/README.md` shows) runs through a real host; hostile messages
//! there (not JSON, a forged id, a huge header, a bogus priority) are dead-lettered with a
//! reason or ignored, lose no other message and write nothing raw into the host log.

use wasmboost_tests::api::{LONG, cli_json, deploy, poll, queue_row};
use wasmboost_tests::nats::NatsServer;
use wasmboost_tests::producer;

use super::start;

/// Publish `{"x": 41}` to `wasmboost.p0.<queue>` and wait for JetStream's ack.
const NATS_PY: &str = "import asyncio, json, sys, nats\n\
async def main():\n\
\x20   nc = await nats.connect(sys.argv[1])\n\
\x20   js = nc.jetstream()\n\
\x20   ack = await js.publish('wasmboost.p0.' + sys.argv[2], json.dumps({'x': 41}).encode())\n\
\x20   print(ack.seq)\n\
\x20   await nc.close()\n\
asyncio.run(main())\n";

#[test]
fn a_nats_py_producer_json_body_runs() {
    let Some(python) = producer::venv_with("nats-py", "nats") else {
        eprintln!("SKIPPED a_nats_py_producer_json_body_runs: cannot pip install nats-py");
        return;
    };
    let server = NatsServer::start();
    let queue = "nats_foreign";
    let mut host = start(&server, "");
    deploy(&host, queue, "echo_v1");
    // The queue's streams exist once a host used it (its row reads the consumers).
    poll("the queue to be set up", &host, LONG, || {
        queue_row(&host, queue)
    });
    let out = producer::run(&python, NATS_PY, &[&server.url(), queue]);
    assert!(out.status.success(), "nats-py publish: {out:?}");
    let row = poll("the foreign task to succeed", &host, LONG, || {
        queue_row(&host, queue).filter(|r| r["succeeded"].as_u64().unwrap_or(0) >= 1)
    });
    assert_eq!(row["succeeded"].as_u64(), Some(1), "{row}");
    assert_eq!(row["dead_lettered"].as_u64(), Some(0), "{row}");
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

/// Hostile messages on the band subject, then a good one: a body that is not JSON, a forged
/// `Wasmboost-Id` that breaks the task-id rule (with a newline and an escape, and plain), a huge
/// header,
/// a bogus priority and a good body.
const HOSTILE: &str = "import asyncio, json, sys, nats\n\
async def main():\n\
\x20   nc = await nats.connect(sys.argv[1])\n\
\x20   js = nc.jetstream()\n\
\x20   s = 'wasmboost.p0.' + sys.argv[2]\n\
\x20   await js.publish(s, b'not json \\x1b[31m')\n\
\x20   await js.publish(s, b'{\"x\": 1}', headers={'Wasmboost-id': 'evil\\x1b[31m\\nFAKE LOG'})\n\
\x20   await js.publish(s, b'{\"x\": 4}', headers={'Wasmboost-id': 'has space'})\n\
\x20   await js.publish(s, b'{\"x\": 2}', headers={'X-Junk': 'y' * 60000, 'Wasmboost-priority': '99x'})\n\
\x20   await js.publish(s, b'{\"x\": 3}', headers={'Nats-Msg-Id': 'forged'})\n\
\x20   await nc.close()\n\
asyncio.run(main())\n";

#[test]
fn hostile_nats_messages_are_dead_lettered_with_a_reason_and_lose_no_other() {
    let Some(python) = producer::venv_with("nats-py", "nats") else {
        eprintln!("SKIPPED hostile_nats_messages_...: cannot pip install nats-py");
        return;
    };
    let server = NatsServer::start();
    let queue = "nats_hostile";
    let mut host = start(&server, "");
    deploy(&host, queue, "echo_v1");
    poll("the queue to be set up", &host, LONG, || {
        queue_row(&host, queue)
    });
    let out = producer::run(&python, HOSTILE, &[&server.url(), queue]);
    assert!(out.status.success(), "nats-py publish: {out:?}");
    // The not-JSON body and the plain bad id are dead-lettered; the id with control characters
    // too, or (where the client library drops the header) it runs under its own id; both
    // well-formed bodies run.
    let row = poll("every message to end", &host, LONG, || {
        queue_row(&host, queue).filter(|r| {
            r["succeeded"].as_u64().unwrap_or(0) + r["dead_lettered"].as_u64().unwrap_or(0) >= 5
        })
    });
    let (ran, dead) = (row["succeeded"].as_u64(), row["dead_lettered"].as_u64());
    assert!(matches!(ran, Some(2 | 3)), "{row}");
    assert_eq!(ran.unwrap_or(0) + dead.unwrap_or(0), 5, "{row}");
    let listed = cli_json(&host, &["dlq", "list", queue]);
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len() as u64, dead.unwrap_or(0), "{listed:?}");
    for dead in listed {
        assert!(
            dead.to_string().contains("malformed message"),
            "a clear reason: {dead}"
        );
    }
    // (The log's own colours are escape codes too: look for the producer's text.)
    let log = host.log();
    assert!(
        !log.contains("evil\u{1b}") && !log.lines().any(|l| l.starts_with("FAKE LOG")),
        "hostile text reached the host log unescaped:\n{log}"
    );
    let status = host.stop();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
}

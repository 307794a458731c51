//! A chord on Redis survives two kill -9 of its host: each member is joined once and the
//! callback is published once (the Celery chord failure mode is a join counter lost or counted
//! twice by a crash).

use serde_json::json;
use wasmboost_tests::host::HostOptions;
use wasmboost_tests::poll::poll;
use wasmboost_tests::redis::RedisServer;

use super::support::{LONG, deploy_calc, ended, show, submit};

const MEMBERS: i64 = 300;

/// Messages ever added to `queue`'s stream (a callback published twice would be two).
fn entries_added(redis: &RedisServer, queue: &str) -> u64 {
    let text = redis.cli(&[
        "XINFO",
        "STREAM",
        &format!("wasmboost:q:{{{queue}}}:stream"),
    ]);
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "entries-added")
        .unwrap_or_else(|| panic!("entries-added field in {text}"));
    lines[at + 1].trim().parse().expect("a number")
}

#[test]
fn a_chord_of_300_joins_each_member_once_through_two_kill_9() {
    let redis = RedisServer::start();
    let toml = format!(
        "[host]\nshutdown_grace = \"5s\"\n[broker]\ntype = \"redis\"\nurl = \"{}\"\n\
         [queues.calc]\nconcurrency = 16\nlease = \"2s\"\n[queues.total]\nlease = \"2s\"\n",
        redis.url()
    );
    let mut host = HostOptions::default().config(toml.as_str()).start();
    deploy_calc(&host, &["calc", "total"]);
    let members: Vec<_> = (0..MEMBERS)
        .map(|i| json!({"queue": "calc", "args": {"op": "add", "x": i, "y": 0, "sleep_ms": 100}}))
        .collect();
    let doc = json!({"chord": {
        "group": members,
        "callback": {"queue": "total", "args": {"op": "sum"}, "arg": "values"}
    }});
    let id = submit(&host, &doc);
    for at in [60, 180] {
        poll(
            &format!("{at} members to be done"),
            LONG,
            || host.log(),
            || show(&host, &id).filter(|w| w["stages"][0]["done"].as_u64() >= Some(at)),
        );
        host.kill9();
        host.restart();
    }
    let info = ended(&host, &id);
    assert_eq!(info["state"], "succeeded", "{info}");
    assert_eq!(
        info["result"],
        (0..MEMBERS).sum::<i64>(),
        "every member once: {info}"
    );
    assert_eq!(info["stages"][0]["done"], MEMBERS, "{info}");
    assert_eq!(
        entries_added(&redis, "total"),
        1,
        "the callback was published once"
    );
}

//! A 1 s schedule on three hosts sharing a Redis: one fires; kill -9 of it hands over.

use std::time::{Duration, Instant};

use wasmboost_tests::guests;
use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::poll::poll;
use wasmboost_tests::redis::RedisServer;

use super::local::{record, schedule_row};

const LONG: Duration = Duration::from_secs(120);
/// The leader lease (`wasmboost_worker::schedule::LEADER_LEASE`) plus one lease round.
const TAKEOVER: Duration = Duration::from_secs(4);
const LEADS: &str = "this host fires the schedules now";

fn config(redis: &RedisServer) -> String {
    format!(
        "[host]\nshutdown_grace = \"5s\"\n[broker]\ntype = \"redis\"\nurl = \"{}\"\n\
         [queues.echo]\nconcurrency = 8\n\
         [[schedules]]\nname = \"tick\"\nqueue = \"echo\"\nevery = \"1s\"\nmisfire = \"once\"\n\
         grace = \"10s\"\npayload = {{ n = 1 }}\n",
        redis.url()
    )
}

fn logs(hosts: &[HostProcess]) -> String {
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| format!("--- host {i}:\n{}", h.log()))
        .collect()
}

/// Messages ever added to the echo queue's stream (Redis counts them; a tick published twice
/// would be two).
fn entries_added(redis: &RedisServer) -> u64 {
    let text = redis.cli(&["XINFO", "STREAM", "wasmboost:q:{echo}:stream"]);
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "entries-added")
        .expect("entries-added field");
    lines[at + 1].trim().parse().expect("a number")
}

#[test]
fn three_hosts_fire_each_tick_once_and_a_kill_9_of_the_leader_loses_none() {
    let redis = RedisServer::start();
    let toml = config(&redis);
    let mut hosts: Vec<HostProcess> = std::thread::scope(|s| {
        let starting: Vec<_> = (0..3)
            .map(|_| s.spawn(|| HostOptions::default().config(toml.as_str()).start()))
            .collect();
        starting
            .into_iter()
            .map(|h| h.join().expect("a host starts"))
            .collect()
    });
    let wasm = guests::guest_bytes("echo_v1");
    let (status, body) = hosts[0].http("PUT", "/v1/queues/echo/module", &wasm);
    assert!((200..300).contains(&status), "deploy: {status} {body}");
    let leader = poll(
        "one host to lead",
        LONG,
        || logs(&hosts),
        || {
            let leading: Vec<usize> = (0..3).filter(|i| hosts[*i].log().contains(LEADS)).collect();
            (leading.len() == 1).then(|| leading[0])
        },
    );
    let first = poll(
        "a tick to run",
        LONG,
        || logs(&hosts),
        || schedule_row(&hosts[0]).filter(|r| r["last_state"] == "succeeded"),
    );
    let from = first["last_ms"].as_u64().expect("a last tick");
    std::thread::sleep(Duration::from_secs(5));
    hosts[leader].kill9();
    let killed = Instant::now();
    let other = (leader + 1) % 3;
    let next = poll(
        "another host to lead",
        LONG,
        || logs(&hosts),
        || (0..3).find(|i| *i != leader && hosts[*i].log().contains(LEADS)),
    );
    let took = killed.elapsed();
    eprintln!("redis: host {next} took over {took:?} after the leader's kill -9");
    assert!(
        took <= TAKEOVER,
        "took over after {took:?}, bound {TAKEOVER:?}"
    );
    let resumed = schedule_row(&hosts[other])
        .and_then(|r| r["last_ms"].as_u64())
        .expect("last");
    poll(
        "ticks to go on",
        LONG,
        || logs(&hosts),
        || schedule_row(&hosts[other]).filter(|r| r["last_ms"].as_u64() >= Some(resumed + 5000)),
    );
    // Freeze: pause the queue (ticks still publish), then compare.
    let out = hosts[other].cli(["pause", "echo"]);
    assert!(out.status.success(), "pause: {out:?}");
    let last = schedule_row(&hosts[other])
        .and_then(|r| r["last_ms"].as_u64())
        .expect("last");
    let mut earliest = from;
    while record(&hosts[other], &format!("tick@{}", earliest - 1000)).is_some() {
        earliest -= 1000;
    }
    // Every tick from the first to the last has its task: none lost across the kill.
    for tick in (earliest..=last).step_by(1000) {
        assert!(
            record(&hosts[other], &format!("tick@{tick}")).is_some(),
            "tick@{tick} missing (kill at ~{:?} ago)\n{}",
            killed.elapsed(),
            logs(&hosts)
        );
    }
    // None published twice: the stream got exactly one message per tick (counted once the
    // schedule's last tick and the stream agree, both moving on while we read).
    poll(
        "one message per tick",
        Duration::from_secs(10),
        || logs(&hosts),
        || {
            let before = schedule_row(&hosts[other]).and_then(|r| r["last_ms"].as_u64())?;
            let added = entries_added(&redis);
            let after = schedule_row(&hosts[other]).and_then(|r| r["last_ms"].as_u64())?;
            (before == after).then_some(())?;
            let ticks = (after - earliest) / 1000 + 1;
            assert!(
                added <= ticks,
                "{added} messages for {ticks} ticks: a tick was published twice"
            );
            (added == ticks).then_some(())
        },
    );
}

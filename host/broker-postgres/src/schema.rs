//! The `wasmboost` schema, versioned: [`migrations`] lists every step in order, and
//! [`migrate`] applies the missing ones at start inside one transaction under an advisory lock
//! (hosts starting together migrate once), and refuses a database migrated further than this
//! binary knows ([`ConnectError::SchemaTooNew`]).
//!
//! # Tables
//!
//! - `wasmboost.jobs`: one row per job of every queue. A job is visible when
//!   `coalesce(lease_until, run_at) <= now`: `run_at` holds delays and retry backoff,
//!   `lease_until` is set while a host holds the job, and a job whose lease ended is visible
//!   again (fetching it counts a redelivery). `token` fences late settles: every fetch draws a
//!   new one, and a renew or settle only touches the row whose token it holds. `seq` orders FIFO
//!   within a priority; a retry or requeue draws a new one (it goes to the back).
//! - `wasmboost.dead`: dead letters with their reason, oldest first by `seq`.
//! - `wasmboost.publish(queue, body [, priority, delay_ms])`: the producer function for plain
//!   SQL; it checks the queue name and that the body is a JSON object.
//!
//! - Version 2, the state store ([`crate::state`]): `records` (with `terminal` and an expiry),
//!   `dedup`, `paused`, `modules`, `bindings`, `counters`, `hosts`, `tokens`, `audit`, `rates`.
//!   A terminal record notifies [`RECORDS_CHANNEL`] with its task id.
//!
//! Inserting or rescheduling a job (`lease_until IS NULL`) notifies channel [`CHANNEL`] with the
//! queue name (a statement trigger), whoever wrote it: idle fetchers of that queue wake.
//! Times are milliseconds since the Unix epoch of the database's clock (`wasmboost.now_ms()`),
//! one clock for every host.

use tokio_postgres::Client;
use wasmboost_broker::MAX_PRIORITY;
use wasmboost_policy::names::{MAX_QUEUE_NAME_LEN, QUEUE_NAME_RULE, RESERVED_QUEUE_PREFIXES};

use crate::error::ConnectError;

/// The channel `LISTEN`ed to for new visible jobs; the payload is the queue name.
pub const CHANNEL: &str = "wasmboost_jobs";
/// The channel of terminal task records; the payload is the task id (`wait_terminal`).
pub const RECORDS_CHANNEL: &str = "wasmboost_records";

/// Serialises migrations of concurrent starts (`pg_advisory_xact_lock` key; any constant that
/// no other application uses: "wasmboost" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x7761_736d_626f_6f73;

/// The migrations, version `i + 1` at index `i`. Append only: a released step never changes.
pub fn migrations() -> Vec<String> {
    vec![v1(), v2(), v3(), v4(), v5()]
}

/// The newest version this binary knows.
pub fn latest() -> i32 {
    i32::try_from(migrations().len()).unwrap_or(i32::MAX)
}

/// Bring the database's schema to [`latest`], or refuse one that is newer.
pub async fn migrate(client: &mut Client) -> Result<i32, ConnectError> {
    let m = ConnectError::Migrate;
    let tx = client.transaction().await.map_err(m)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(m)?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS wasmboost;
         CREATE TABLE IF NOT EXISTS wasmboost.schema_version (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .await
    .map_err(m)?;
    let found: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM wasmboost.schema_version",
            &[],
        )
        .await
        .map_err(m)?
        .get(0);
    let known = latest();
    if found > known {
        return Err(ConnectError::SchemaTooNew { found, known });
    }
    for (version, sql) in (1..)
        .zip(migrations())
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.batch_execute(&sql).await.map_err(m)?;
        tx.execute(
            "INSERT INTO wasmboost.schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(m)?;
        tracing::info!(version, "postgres broker: applied schema migration");
    }
    tx.commit().await.map_err(m)?;
    Ok(known)
}

/// Version 1: jobs, dead letters, the clock, the notify trigger, the producer function.
fn v1() -> String {
    let reserved = RESERVED_QUEUE_PREFIXES
        .iter()
        .map(|p| format!("starts_with(queue, '{p}')"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let rule = QUEUE_NAME_RULE.replace('\'', "''");
    format!(
        r#"
CREATE FUNCTION wasmboost.now_ms() RETURNS bigint LANGUAGE sql VOLATILE
    AS $$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

CREATE SEQUENCE wasmboost.job_order;
CREATE SEQUENCE wasmboost.lease_token;

CREATE TABLE wasmboost.jobs (
    seq bigint PRIMARY KEY DEFAULT nextval('wasmboost.job_order'),
    queue text NOT NULL,
    id text NOT NULL,
    body bytea NOT NULL,
    priority smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND {MAX_PRIORITY}),
    run_at bigint NOT NULL,
    lease_until bigint,
    token bigint,
    attempt integer NOT NULL DEFAULT 1,
    requeues integer NOT NULL DEFAULT 0,
    redeliveries integer NOT NULL DEFAULT 0,
    published_ms bigint NOT NULL
);
-- The fetch order: highest priority first, FIFO within one.
CREATE INDEX jobs_fetch ON wasmboost.jobs (queue, priority DESC, seq);
-- When the next job of a queue becomes visible (an idle fetch sleeps until then).
CREATE INDEX jobs_due ON wasmboost.jobs (queue, (coalesce(lease_until, run_at)));

CREATE TABLE wasmboost.dead (
    seq bigserial PRIMARY KEY,
    queue text NOT NULL,
    id text NOT NULL,
    body bytea NOT NULL,
    priority smallint NOT NULL,
    attempt integer NOT NULL,
    requeues integer NOT NULL,
    redeliveries integer NOT NULL,
    published_ms bigint NOT NULL,
    reason text NOT NULL,
    dead_ms bigint NOT NULL
);
CREATE INDEX dead_queue ON wasmboost.dead (queue, seq);

CREATE FUNCTION wasmboost.notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', q.queue)
        FROM (SELECT DISTINCT queue FROM new_rows WHERE lease_until IS NULL) q;
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify_insert AFTER INSERT ON wasmboost.jobs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wasmboost.notify_jobs();
CREATE TRIGGER jobs_notify_update AFTER UPDATE ON wasmboost.jobs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wasmboost.notify_jobs();

CREATE FUNCTION wasmboost.publish(
    queue text, body text, priority integer DEFAULT 0, delay_ms bigint DEFAULT 0
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    new_id text := gen_random_uuid()::text;
    now_ms bigint := wasmboost.now_ms();
BEGIN
    IF queue IS NULL OR length(queue) NOT BETWEEN 1 AND {MAX_QUEUE_NAME_LEN}
        OR queue !~ '^[A-Za-z0-9_.-]+$' OR queue ~ '^[.]+$' OR {reserved} THEN
        RAISE EXCEPTION 'invalid queue name %: a queue name is {rule}', quote_literal(left(queue, 64))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF body IS NULL OR jsonb_typeof(body::jsonb) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'invalid task body %: it must be a JSON object', left(body, 64)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF priority IS NULL OR priority NOT BETWEEN 0 AND {MAX_PRIORITY} THEN
        RAISE EXCEPTION 'invalid priority %: it must be 0 to {MAX_PRIORITY}', priority
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF delay_ms IS NULL OR delay_ms < 0 THEN
        RAISE EXCEPTION 'invalid delay_ms %: it must be 0 or more', delay_ms
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO wasmboost.jobs (queue, id, body, priority, run_at, published_ms)
        VALUES (publish.queue, new_id, convert_to(publish.body, 'UTF8'), publish.priority,
                now_ms + publish.delay_ms, now_ms);
    RETURN new_id;
END $$;
"#
    )
}

/// Version 2: the state store's tables. Expiring rows carry `expires_ms`; reads ignore expired
/// rows and the store deletes them periodically.
fn v2() -> String {
    format!(
        r#"
CREATE TABLE wasmboost.records (
    task_id text PRIMARY KEY,
    record bytea NOT NULL,
    terminal boolean NOT NULL,
    expires_ms bigint NOT NULL
);
CREATE INDEX records_expiry ON wasmboost.records (expires_ms);
CREATE FUNCTION wasmboost.notify_terminal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{RECORDS_CHANNEL}', NEW.task_id);
    RETURN NULL;
END $$;
CREATE TRIGGER records_terminal AFTER INSERT OR UPDATE ON wasmboost.records
    FOR EACH ROW WHEN (NEW.terminal) EXECUTE FUNCTION wasmboost.notify_terminal();

CREATE TABLE wasmboost.dedup (
    queue text NOT NULL,
    key text NOT NULL,
    expires_ms bigint NOT NULL,
    PRIMARY KEY (queue, key)
);
CREATE INDEX dedup_expiry ON wasmboost.dedup (expires_ms);
CREATE TABLE wasmboost.paused (queue text PRIMARY KEY);
CREATE TABLE wasmboost.modules (sha256 text PRIMARY KEY, wasm bytea NOT NULL);
CREATE TABLE wasmboost.bindings (queue text PRIMARY KEY, binding bytea NOT NULL);
CREATE TABLE wasmboost.counters (
    queue text NOT NULL,
    name text NOT NULL,
    value bigint NOT NULL,
    PRIMARY KEY (queue, name)
);
CREATE TABLE wasmboost.hosts (host_id text PRIMARY KEY, info bytea NOT NULL, expires_ms bigint NOT NULL);
CREATE TABLE wasmboost.tokens (id text PRIMARY KEY, doc bytea NOT NULL);
CREATE TABLE wasmboost.audit (seq bigserial PRIMARY KEY, entry bytea NOT NULL);
-- GCRA: the theoretical arrival time of the next slot, microseconds of the database clock.
CREATE TABLE wasmboost.rates (queue text PRIMARY KEY, tat_us bigint NOT NULL);
"#
    )
}

/// Version 3: schedules' leader leases (a fencing token from a sequence, a new one per tenure)
/// and each schedule's last fired tick; a task record and its counts in one function, reading
/// the stored record first (counted only when it had not ended: a rerun after a crash counts
/// once).
fn v3() -> String {
    r#"
CREATE FUNCTION wasmboost.put_record_counted(
    p_task_id text, p_record bytea, p_terminal boolean, p_ttl_ms bigint,
    p_queue text, p_names text[], p_values int8[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    ended boolean;
BEGIN
    SELECT terminal INTO ended FROM wasmboost.records
    WHERE task_id = p_task_id AND expires_ms >= wasmboost.now_ms()
    FOR UPDATE;
    INSERT INTO wasmboost.records (task_id, record, terminal, expires_ms)
    VALUES (p_task_id, p_record, p_terminal, wasmboost.now_ms() + p_ttl_ms)
    ON CONFLICT (task_id) DO UPDATE
    SET record = excluded.record, terminal = excluded.terminal, expires_ms = excluded.expires_ms;
    IF NOT coalesce(ended, false) THEN
        INSERT INTO wasmboost.counters (queue, name, value)
        SELECT p_queue, d.name, sum(d.value)::bigint
        FROM unnest(p_names, p_values) AS d(name, value)
        GROUP BY d.name
        ON CONFLICT (queue, name) DO UPDATE SET value = wasmboost.counters.value + excluded.value;
    END IF;
END
$$;
CREATE SEQUENCE wasmboost.lease_tokens;
CREATE TABLE wasmboost.leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    token bigint NOT NULL,
    until_ms bigint NOT NULL
);
CREATE TABLE wasmboost.schedule_ticks (
    schedule text PRIMARY KEY,
    last_ms bigint NOT NULL
);
"#
    .to_owned()
}

/// Task key-value namespaces: one function call per operation (see `crate::kv`). It mirrors
/// `wasmboost_broker::kv::decide`. A write locks the queue's `kv_usage` row, so writes of one
/// namespace are serialised (atomic increments and compare-and-swaps across hosts), drops the
/// namespace's expired keys (they count against no quota), then decides and writes.
fn v4() -> String {
    r#"
CREATE TABLE wasmboost.kv (
    queue text NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    expires_ms bigint,
    PRIMARY KEY (queue, key)
);
CREATE INDEX kv_expiry ON wasmboost.kv (queue, expires_ms) WHERE expires_ms IS NOT NULL;
CREATE TABLE wasmboost.kv_usage (
    queue text PRIMARY KEY,
    keys bigint NOT NULL,
    bytes bigint NOT NULL
);
CREATE FUNCTION wasmboost.kv(
    p_queue text, p_op text, p_key bytea, p_value bytea, p_ttl_ms bigint,
    p_expected bytea, p_delta bigint,
    p_max_keys bigint, p_max_value bigint, p_max_total bigint,
    OUT tag text, OUT val bytea, OUT a bigint, OUT b bigint
) LANGUAGE plpgsql AS $$
DECLARE
    now_ms bigint := wasmboost.now_ms();
    cur bytea;
    cur_exp bigint;
    had boolean;
    u_keys bigint;
    u_bytes bigint;
    gone_keys bigint;
    gone_bytes bigint;
    n numeric;
    new_value bytea;
    new_exp bigint;
    old_size bigint;
    new_size bigint;
    would bigint;
BEGIN
    IF p_op = 'get' THEN
        SELECT value INTO cur FROM wasmboost.kv
        WHERE queue = p_queue AND key = p_key AND (expires_ms IS NULL OR expires_ms > now_ms);
        IF FOUND THEN tag := 'value'; val := cur; ELSE tag := 'none'; END IF;
        RETURN;
    END IF;
    INSERT INTO wasmboost.kv_usage (queue, keys, bytes) VALUES (p_queue, 0, 0)
    ON CONFLICT (queue) DO NOTHING;
    SELECT keys, bytes INTO u_keys, u_bytes FROM wasmboost.kv_usage
    WHERE queue = p_queue FOR UPDATE;
    WITH gone AS (
        DELETE FROM wasmboost.kv WHERE queue = p_queue AND expires_ms <= now_ms
        RETURNING octet_length(key) + octet_length(value) AS size
    )
    SELECT count(*), coalesce(sum(size), 0) INTO gone_keys, gone_bytes FROM gone;
    IF gone_keys > 0 THEN
        u_keys := u_keys - gone_keys;
        u_bytes := u_bytes - gone_bytes;
        UPDATE wasmboost.kv_usage SET keys = u_keys, bytes = u_bytes WHERE queue = p_queue;
    END IF;
    SELECT value, expires_ms INTO cur, cur_exp FROM wasmboost.kv
    WHERE queue = p_queue AND key = p_key;
    had := FOUND;
    old_size := CASE WHEN had THEN octet_length(p_key) + octet_length(cur) ELSE 0 END;
    IF p_op = 'delete' THEN
        tag := 'deleted';
        a := CASE WHEN had THEN 1 ELSE 0 END;
        IF had THEN
            DELETE FROM wasmboost.kv WHERE queue = p_queue AND key = p_key;
            UPDATE wasmboost.kv_usage SET keys = u_keys - 1, bytes = u_bytes - old_size
            WHERE queue = p_queue;
        END IF;
        RETURN;
    ELSIF p_op = 'set' THEN
        tag := 'stored';
        new_value := p_value;
        new_exp := CASE WHEN p_ttl_ms IS NULL THEN NULL ELSE now_ms + p_ttl_ms END;
    ELSIF p_op = 'incr' THEN
        n := 0;
        IF had THEN
            IF encode(cur, 'escape') !~ '^(0|-?[1-9][0-9]{0,18})$' THEN
                tag := 'refused-integer';
                RETURN;
            END IF;
            n := encode(cur, 'escape')::numeric;
            IF n < -9223372036854775808 OR n > 9223372036854775807 THEN
                tag := 'refused-integer';
                RETURN;
            END IF;
        END IF;
        n := n + p_delta;
        IF n < -9223372036854775808 OR n > 9223372036854775807 THEN
            tag := 'refused-overflow';
            RETURN;
        END IF;
        tag := 'counted';
        a := n::bigint;
        new_value := convert_to(n::text, 'UTF8');
        new_exp := cur_exp;
    ELSIF p_op = 'cas' THEN
        tag := 'swapped';
        IF (p_expected IS NULL AND had) OR (p_expected IS NOT NULL AND (NOT had OR cur <> p_expected)) THEN
            a := 0;
            RETURN;
        END IF;
        a := 1;
        new_value := p_value;
        new_exp := cur_exp;
    ELSE
        RAISE EXCEPTION 'unknown kv operation %', p_op;
    END IF;
    IF octet_length(new_value) > p_max_value THEN
        tag := 'refused-value'; a := octet_length(new_value); b := p_max_value;
        RETURN;
    END IF;
    IF NOT had AND u_keys >= p_max_keys THEN
        tag := 'refused-keys'; a := p_max_keys; b := NULL;
        RETURN;
    END IF;
    new_size := octet_length(p_key) + octet_length(new_value);
    would := u_bytes - old_size + new_size;
    IF new_size > old_size AND would > p_max_total THEN
        tag := 'refused-total'; a := would; b := p_max_total;
        RETURN;
    END IF;
    INSERT INTO wasmboost.kv (queue, key, value, expires_ms)
    VALUES (p_queue, p_key, new_value, new_exp)
    ON CONFLICT (queue, key) DO UPDATE SET value = excluded.value, expires_ms = excluded.expires_ms;
    UPDATE wasmboost.kv_usage
    SET keys = u_keys + CASE WHEN had THEN 0 ELSE 1 END, bytes = would
    WHERE queue = p_queue;
END
$$;
"#
    .to_owned()
}

/// Version 5: workflow joins. A slot is filled once; `join_put` takes a transaction-scoped
/// advisory lock on the join, so its insert and count are not interleaved with another
/// writer's (under READ COMMITTED two inserts could each count only themselves).
fn v5() -> String {
    r#"
CREATE TABLE IF NOT EXISTS wasmboost.joins (
    join_id text NOT NULL,
    slot bigint NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (join_id, slot)
);
CREATE TABLE IF NOT EXISTS wasmboost.join_expiry (
    join_id text PRIMARY KEY,
    expires_ms bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS join_expiry_at ON wasmboost.join_expiry (expires_ms);
CREATE OR REPLACE FUNCTION wasmboost.join_put(j text, s bigint, v bytea, ttl_ms bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE filled bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('wasmboost.join ' || j, 0));
    INSERT INTO wasmboost.join_expiry (join_id, expires_ms) VALUES (j, wasmboost.now_ms() + ttl_ms)
        ON CONFLICT (join_id) DO UPDATE SET expires_ms = excluded.expires_ms;
    INSERT INTO wasmboost.joins (join_id, slot, value) VALUES (j, s, v)
        ON CONFLICT (join_id, slot) DO NOTHING;
    SELECT count(*) INTO filled FROM wasmboost.joins WHERE join_id = j;
    RETURN filled;
END
$$;
"#
    .to_owned()
}

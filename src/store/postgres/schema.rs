//! The PostgreSQL schema, as numbered migrations. Each runs once, in its
//! own transaction, and is recorded in `tocsin_migrations`; a database
//! that records a migration this build does not have is refused.
//!
//! Every statement is idempotent (`IF NOT EXISTS`, `ON CONFLICT DO
//! NOTHING`), so a migration interrupted before its record was written
//! runs again cleanly.

/// `(version, statements)`, oldest first; the schema's version is the last one.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[(1, V1)];

/// Times are nanoseconds since the epoch (`bigint`), as the clock gave
/// them, except the due index, which is kept in milliseconds as the engine
/// reads it. Records are the versioned JSON the embedded store keeps too.
const V1: &str = r#"
CREATE TABLE IF NOT EXISTS counters (
    name text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('outbox', 0), ('claim', 0)
    ON CONFLICT DO NOTHING;
CREATE SEQUENCE IF NOT EXISTS incident_ids;
CREATE SEQUENCE IF NOT EXISTS override_ids;
CREATE SEQUENCE IF NOT EXISTS swap_ids;
CREATE SEQUENCE IF NOT EXISTS signal_ids;
CREATE TABLE IF NOT EXISTS incidents (
    id bigint PRIMARY KEY,
    record bytea NOT NULL,
    open boolean NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (id) WHERE open;
CREATE TABLE IF NOT EXISTS payloads (
    id bigint PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS dedup (
    key bytea PRIMARY KEY,
    id bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS due (
    at_ms bigint NOT NULL,
    id bigint NOT NULL,
    holder text,
    lease_until bigint,
    token bigint,
    PRIMARY KEY (at_ms, id)
);
CREATE TABLE IF NOT EXISTS rooms (
    channel text PRIMARY KEY,
    id bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS message_refs (
    id bigint PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq bigint PRIMARY KEY,
    lane text NOT NULL,
    record bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_lane ON outbox (lane, seq);
CREATE TABLE IF NOT EXISTS outbox_dead (
    seq bigint PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS lanes (
    lane text PRIMARY KEY,
    holder text NOT NULL,
    lease_until bigint NOT NULL,
    token bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS overrides (
    schedule text NOT NULL,
    id bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (schedule, id)
);
CREATE TABLE IF NOT EXISTS swaps (
    id bigint PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS feeds (
    schedule text PRIMARY KEY,
    generation bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS handoffs (
    schedule text PRIMARY KEY,
    cursor_ms bigint NOT NULL,
    on_call text
);
CREATE TABLE IF NOT EXISTS cursors (
    name text PRIMARY KEY,
    at_ns bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    event_id text PRIMARY KEY,
    seen_ns bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS heartbeats (
    id text PRIMARY KEY,
    beat_ns bigint,
    alerted_ns bigint
);
CREATE TABLE IF NOT EXISTS changes (
    service text NOT NULL,
    at_ms bigint NOT NULL,
    seq bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (service, at_ms, seq)
);
CREATE TABLE IF NOT EXISTS suppressed (
    service text NOT NULL,
    at_ms bigint NOT NULL,
    seq bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (service, at_ms, seq)
);
CREATE TABLE IF NOT EXISTS maintenance (
    service text NOT NULL,
    from_ms bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (service, from_ms)
);
CREATE TABLE IF NOT EXISTS sandbox (
    key text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    service text NOT NULL,
    at_ms bigint NOT NULL,
    seq bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (service, at_ms, seq)
);
CREATE TABLE IF NOT EXISTS audit (
    team text NOT NULL,
    at_ms bigint NOT NULL,
    seq bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (team, at_ms, seq)
);
"#;

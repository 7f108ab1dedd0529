-- 0001: the vocabulary of ARCHITECTURE.md. Append-only: change the schema in a new file.
-- DDL in ClickHouse is not transactional: every statement is IF NOT EXISTS so a migration
-- interrupted half-way is simply run again.
-- Hot tables avoid Nullable (measured ~40 % slower scans): unknown floats are NaN, unknown
-- integers 0, unknown strings ''. Timestamps are UTC microseconds.

CREATE TABLE IF NOT EXISTS accounts (
    account_id String,
    name String,
    created_at DateTime64(6, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY account_id;

CREATE TABLE IF NOT EXISTS projects (
    project_id String,
    account_id String,
    name String,
    created_at DateTime64(6, 'UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY project_id;

CREATE TABLE IF NOT EXISTS apps (
    app_id String,
    project_id String,
    account_id String,
    name String,
    created_at DateTime64(6, 'UTC'),
    deleted UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY app_id;

-- Secret API keys: only a SHA-256 of the secret part is kept (the secret is 256 random bits,
-- so a slow password hash would add nothing but latency on every request).
CREATE TABLE IF NOT EXISTS api_keys (
    key_id String,
    app_id String,
    secret_sha256 String,
    created_at DateTime64(6, 'UTC'),
    revoked UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version) ORDER BY key_id;

CREATE TABLE IF NOT EXISTS rooms (
    app_id LowCardinality(String),
    room_id String,
    kind LowCardinality(String),
    created_at DateTime64(6, 'UTC'),
    updated_at DateTime64(6, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (app_id, room_id);

-- One continuous occupancy of a room: first join to last leave (TRTC CommId, Zoom meeting UUID).
CREATE TABLE IF NOT EXISTS room_instances (
    app_id LowCardinality(String),
    room_id String,
    instance_id String,
    start_ts DateTime64(6, 'UTC'),
    end_ts DateTime64(6, 'UTC'),
    state LowCardinality(String),
    updated_at DateTime64(6, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (app_id, room_id, instance_id);

-- One user's stay in a room instance.
CREATE TABLE IF NOT EXISTS participant_sessions (
    app_id LowCardinality(String),
    room_id String,
    instance_id String,
    user_id String,
    session_id String,
    join_ts DateTime64(6, 'UTC'),
    leave_ts DateTime64(6, 'UTC'),
    state LowCardinality(String),
    device String,
    platform LowCardinality(String),
    os LowCardinality(String),
    browser LowCardinality(String),
    sdk_name LowCardinality(String),
    sdk_version LowCardinality(String),
    sdk_type LowCardinality(String),
    network_type LowCardinality(String),
    ip String,
    region LowCardinality(String),
    country LowCardinality(String),
    city LowCardinality(String),
    isp LowCardinality(String),
    updated_at DateTime64(6, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (app_id, room_id, session_id);

CREATE TABLE IF NOT EXISTS samples (
    app_id LowCardinality(String),
    room_id String,
    user_id String,
    session_id String,
    kind LowCardinality(String),
    direction LowCardinality(String),
    peer_id String,
    stream_id String,
    source LowCardinality(String),
    ts DateTime64(6, 'UTC'),
    window_ms UInt32,
    bitrate_kbps Float32,
    rtt_ms Float32,
    jitter_ms Float32,
    loss_ratio Float32,
    packets_expected UInt32,
    packets_lost UInt32,
    width_px UInt16,
    height_px UInt16,
    fps Float32,
    freeze_count UInt32,
    freeze_ms UInt32,
    concealment_ratio Float32,
    app_cpu_ratio Float32,
    system_cpu_ratio Float32,
    quality_limitation LowCardinality(String),
    relayed UInt8,
    transport LowCardinality(String),
    ingested_at DateTime64(3, 'UTC'),
    INDEX ingested_at_minmax ingested_at TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (app_id, room_id, user_id, session_id, ts)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

-- Streams are known from their samples; the view keeps first/last seen without a scan.
CREATE TABLE IF NOT EXISTS streams (
    app_id LowCardinality(String),
    room_id String,
    user_id String,
    session_id String,
    kind LowCardinality(String),
    direction LowCardinality(String),
    peer_id String,
    stream_id String,
    source LowCardinality(String),
    first_ts SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_ts SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    sample_count SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (app_id, room_id, user_id, session_id, kind, direction, peer_id, stream_id, source);

CREATE MATERIALIZED VIEW IF NOT EXISTS streams_mv TO streams AS
SELECT app_id, room_id, user_id, session_id, kind, direction, peer_id, stream_id, source,
       min(ts) AS first_ts, max(ts) AS last_ts, count() AS sample_count
FROM samples
GROUP BY app_id, room_id, user_id, session_id, kind, direction, peer_id, stream_id, source;

CREATE TABLE IF NOT EXISTS events (
    app_id LowCardinality(String),
    room_id String,
    user_id String,
    session_id String,
    ts DateTime64(6, 'UTC'),
    type LowCardinality(String),
    event_id String,
    peer_id String,
    source LowCardinality(String),
    state LowCardinality(String),
    reason String,
    device String,
    platform LowCardinality(String),
    os LowCardinality(String),
    browser LowCardinality(String),
    sdk_name LowCardinality(String),
    sdk_version LowCardinality(String),
    sdk_type LowCardinality(String),
    network_type LowCardinality(String),
    ip String,
    region LowCardinality(String),
    country LowCardinality(String),
    city LowCardinality(String),
    isp LowCardinality(String),
    ingested_at DateTime64(3, 'UTC'),
    INDEX ingested_at_minmax ingested_at TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (app_id, room_id, ts)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

-- A detected bad experience with its attribution (SparkRTC abnormal-event taxonomy).
CREATE TABLE IF NOT EXISTS abnormal_events (
    app_id LowCardinality(String),
    room_id String,
    instance_id String,
    user_id String,
    session_id String,
    ts DateTime64(6, 'UTC'),
    type UInt8,
    factor UInt8,
    stage LowCardinality(String),
    location LowCardinality(String),
    peer_id String,
    evidence String,
    definition_version LowCardinality(String),
    detected_at DateTime64(3, 'UTC')
) ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (app_id, ts, room_id, user_id);

-- Idempotency keys and the answer each keyed request got. Request keys expire; bulk-import
-- keys (expires_at in 2106) stay so re-importing a file never adds rows.
CREATE TABLE IF NOT EXISTS ingest_batches (
    app_id LowCardinality(String),
    idempotency_key String,
    origin LowCardinality(String),
    received_at DateTime64(3, 'UTC'),
    expires_at DateTime('UTC'),
    summary String
) ENGINE = ReplacingMergeTree
ORDER BY (app_id, idempotency_key)
TTL expires_at DELETE
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

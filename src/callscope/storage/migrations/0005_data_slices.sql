-- 0005: data slices, the streaming view's saved filters (docs/streaming.md).
-- One row per change; the newest `version` wins (ReplacingMergeTree), a delete is a row with
-- deleted = 1, so every change is one durable insert and ids are never reused.
-- `filters` is JSON ({"room_ids": [...], "streams": [{"room_id", "user_id"}], "media_servers": [...]}):
-- the shape can grow without a migration, and the engine never filters on it.
CREATE TABLE IF NOT EXISTS data_slices (
    app_id LowCardinality(String),
    slice_id String,
    name String,
    filters String,
    created_at DateTime64(6, 'UTC'),
    deleted UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (app_id, slice_id)
SETTINGS fsync_after_insert = 1, fsync_part_directory = 1;

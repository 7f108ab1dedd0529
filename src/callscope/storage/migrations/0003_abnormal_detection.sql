-- 0003: abnormal-event detection.
-- SparkRTC's type-1 factor codes go up to 90100009, which UInt8 cannot hold.
ALTER TABLE abnormal_events MODIFY COLUMN factor UInt32 SETTINGS mutations_sync = 2;

-- How far each detector has read its source table, by `ingested_at` (one row per detector;
-- the newest `updated_at` wins). Persisting it lets a restart resume where it stopped.
CREATE TABLE IF NOT EXISTS abnormal_watermarks (
    detector LowCardinality(String),
    watermark DateTime64(3, 'UTC'),
    updated_at DateTime64(6, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY detector;

-- 0008: the writer inserts rows as JSON (storage/rows.py explains why and measures it).
-- A JSON null in a float column becomes the column default, so floats default to nan (our
-- "not measured"); timestamps arrive as integer epoch time in EPHEMERAL columns and fill the
-- real column through its DEFAULT. Metadata-only changes: no part is rewritten.
ALTER TABLE samples ADD COLUMN IF NOT EXISTS ts_epoch_us Int64 EPHEMERAL;
ALTER TABLE samples MODIFY COLUMN ts DEFAULT fromUnixTimestamp64Micro(ts_epoch_us, 'UTC');
ALTER TABLE samples ADD COLUMN IF NOT EXISTS ingested_at_epoch_ms Int64 EPHEMERAL;
ALTER TABLE samples MODIFY COLUMN ingested_at DEFAULT fromUnixTimestamp64Milli(ingested_at_epoch_ms, 'UTC');
ALTER TABLE samples MODIFY COLUMN bitrate_kbps DEFAULT nan;
ALTER TABLE samples MODIFY COLUMN rtt_ms DEFAULT nan;
ALTER TABLE samples MODIFY COLUMN jitter_ms DEFAULT nan;
ALTER TABLE samples MODIFY COLUMN loss_ratio DEFAULT nan;
ALTER TABLE samples MODIFY COLUMN fps DEFAULT nan;
ALTER TABLE samples MODIFY COLUMN concealment_ratio DEFAULT nan;
ALTER TABLE samples MODIFY COLUMN app_cpu_ratio DEFAULT nan;
ALTER TABLE samples MODIFY COLUMN system_cpu_ratio DEFAULT nan;
ALTER TABLE samples MODIFY COLUMN cpu_limited_ratio DEFAULT nan;
ALTER TABLE samples MODIFY COLUMN bandwidth_limited_ratio DEFAULT nan;
ALTER TABLE events ADD COLUMN IF NOT EXISTS ts_epoch_us Int64 EPHEMERAL;
ALTER TABLE events MODIFY COLUMN ts DEFAULT fromUnixTimestamp64Micro(ts_epoch_us, 'UTC');
ALTER TABLE events ADD COLUMN IF NOT EXISTS ingested_at_epoch_ms Int64 EPHEMERAL;
ALTER TABLE events MODIFY COLUMN ingested_at DEFAULT fromUnixTimestamp64Milli(ingested_at_epoch_ms, 'UTC');
ALTER TABLE ingest_batches ADD COLUMN IF NOT EXISTS received_at_epoch_ms Int64 EPHEMERAL;
ALTER TABLE ingest_batches MODIFY COLUMN received_at DEFAULT fromUnixTimestamp64Milli(received_at_epoch_ms, 'UTC');
ALTER TABLE ingest_batches ADD COLUMN IF NOT EXISTS expires_at_epoch_s Int64 EPHEMERAL;
ALTER TABLE ingest_batches MODIFY COLUMN expires_at DEFAULT toDateTime(expires_at_epoch_s, 'UTC');

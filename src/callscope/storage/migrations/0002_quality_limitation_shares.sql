-- 0002: share of each window an encoder was limited by CPU or bandwidth
-- (W3C qualityLimitationDurations deltas), NaN when unknown.
ALTER TABLE samples ADD COLUMN IF NOT EXISTS cpu_limited_ratio Float32 DEFAULT nan AFTER quality_limitation;
ALTER TABLE samples ADD COLUMN IF NOT EXISTS bandwidth_limited_ratio Float32 DEFAULT nan AFTER cpu_limited_ratio

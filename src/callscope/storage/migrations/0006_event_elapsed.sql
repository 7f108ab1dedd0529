-- 0006: a duration carried by an event (first_video_frame / first_audio_frame: ms to the first
-- decoded frame or sample of a received track). NaN when the event type carries none, as
-- unmeasured sample fields are (no Nullable in hot tables).
ALTER TABLE events ADD COLUMN IF NOT EXISTS elapsed_ms Float32 DEFAULT nan AFTER reason

-- 0007: the latest use of a key within a row of its minute counts (Unix
-- milliseconds), so that a usage flush does not write the key's row for
-- every key it saw. keys.last_used_at is written at a key's first use of
-- each day (so used_day, and the filters that read it, stay exact), and a
-- read takes the later of it and the newest last_at of the key's counts
-- (lastUsedExpr in keyrow.go). Rows written before this migration have no
-- last_at: their key rows hold every use, as before.
ALTER TABLE usage ADD COLUMN last_at INTEGER;

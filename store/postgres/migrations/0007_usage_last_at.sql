-- 0007: the latest use of a key within a row of its minute counts, so that a
-- usage flush does not rewrite the key's row (wide, with seven indexes, none
-- of its updates HOT) for every key it saw. keys.last_used_at is written at
-- a key's first use of each day, so the filters on it (unused_for, never
-- used) stay exact with one more look at the usage rows for keys last used
-- on the filter's day; a read takes the later of it and the newest last_at
-- of the key's counts (lastUsedExpr in keyrow.go). Rows written before this
-- migration have no last_at: their key rows hold every use, as before.
ALTER TABLE usage ADD COLUMN last_at timestamptz;

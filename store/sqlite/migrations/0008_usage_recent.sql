-- 0008: the usage counts of the current minute, apart. A flush upserts a
-- row for every distinct key it saw (thousands a second at scale); written
-- into usage, whose rows are ordered by key over all of history, they landed
-- on thousands of random pages per flush, each written to the WAL. Flushes
-- now write here, a table that holds about a minute of rows and so stays a
-- few hundred pages, and the flushes of each new minute move the older rows
-- into usage in key order, a chunk of keys each (RecordUsage). Reads add
-- both tables.
CREATE TABLE usage_recent (
	key_id  TEXT NOT NULL,
	minute  INTEGER NOT NULL, -- Unix seconds of the minute's start
	outcome TEXT NOT NULL,
	count   INTEGER NOT NULL,
	last_at INTEGER,          -- Unix milliseconds, as in usage
	PRIMARY KEY (key_id, minute, outcome)
) WITHOUT ROWID;

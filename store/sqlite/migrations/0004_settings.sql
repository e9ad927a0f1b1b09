-- 0004: settings shared by every instance and the CLI (the lifetime policy,
-- the legacy key formats accepted after an import): JSON documents by name.
CREATE TABLE settings (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

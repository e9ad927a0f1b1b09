-- Keys. rid is the rowid the full-text index points at; id is the public key id.
CREATE TABLE keys (
	rid                  INTEGER PRIMARY KEY,
	id                   TEXT NOT NULL UNIQUE,
	prefix               TEXT NOT NULL,
	name                 TEXT NOT NULL,
	description          TEXT NOT NULL DEFAULT '',
	owner                TEXT NOT NULL DEFAULT '',
	scopes               TEXT NOT NULL DEFAULT '[]',
	metadata             TEXT NOT NULL DEFAULT '{}',
	enabled              INTEGER NOT NULL,
	created_at           INTEGER NOT NULL, -- Unix milliseconds, as every time here
	updated_at           INTEGER NOT NULL,
	expires_at           INTEGER,
	last_used_at         INTEGER,
	revoked_at           INTEGER,
	refilled_at          INTEGER,
	rate_limit_limit     INTEGER,
	rate_limit_period_ms INTEGER,
	remaining            INTEGER,
	refill_interval      TEXT,
	refill_amount        INTEGER,
	allowed_cidrs        TEXT NOT NULL DEFAULT '[]',
	replaced_by          TEXT,
	replaces             TEXT,
	hash                 TEXT NOT NULL
);

-- List: newest first, optionally by owner; revoked keys are few, so they get their own index.
CREATE INDEX keys_created ON keys (created_at DESC, id DESC);
CREATE INDEX keys_owner ON keys (owner, created_at DESC, id DESC);
CREATE INDEX keys_revoked ON keys (created_at DESC, id DESC) WHERE revoked_at IS NOT NULL;

-- Case-insensitive substring search on names (queries of 3 characters or more).
CREATE VIRTUAL TABLE keys_fts USING fts5 (name, content = 'keys', content_rowid = 'rid', tokenize = 'trigram case_sensitive 0');
CREATE TRIGGER keys_fts_insert AFTER INSERT ON keys BEGIN
	INSERT INTO keys_fts (rowid, name) VALUES (new.rid, new.name);
END;
CREATE TRIGGER keys_fts_delete AFTER DELETE ON keys BEGIN
	INSERT INTO keys_fts (keys_fts, rowid, name) VALUES ('delete', old.rid, old.name);
END;
CREATE TRIGGER keys_fts_update AFTER UPDATE OF name ON keys WHEN old.name IS NOT new.name BEGIN
	INSERT INTO keys_fts (keys_fts, rowid, name) VALUES ('delete', old.rid, old.name);
	INSERT INTO keys_fts (rowid, name) VALUES (new.rid, new.name);
END;

-- Usage counts per key, minute and outcome. No foreign key: usage outlives deleted keys.
CREATE TABLE usage (
	key_id  TEXT NOT NULL,
	minute  INTEGER NOT NULL, -- Unix seconds of the minute's start
	outcome TEXT NOT NULL,
	count   INTEGER NOT NULL,
	PRIMARY KEY (key_id, minute, outcome)
) WITHOUT ROWID;

-- Admin actions, newest first by id.
CREATE TABLE audit (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	at        INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	key_id    TEXT NOT NULL,
	client_ip TEXT NOT NULL,
	details   TEXT NOT NULL
);
CREATE INDEX audit_key ON audit (key_id, id DESC);

-- 0003: named rate limits and roles on keys; owner records, roles, owner usage.

-- rate_limits holds every limit of the key, "default" included, as
-- [{"name": ..., "limit": ..., "period_ms": ...}] (the store's encoding, not
-- the API's); rate_limit_limit and rate_limit_period_ms keep holding the
-- "default" entry. roles is a JSON array of role names.
ALTER TABLE keys ADD COLUMN rate_limits TEXT NOT NULL DEFAULT '[]';
ALTER TABLE keys ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';

-- A key's rate_limit becomes the "default" entry of its rate_limits.
UPDATE keys SET rate_limits = json_array(json_object(
	'name', 'default', 'limit', rate_limit_limit, 'period_ms', rate_limit_period_ms))
WHERE rate_limit_limit IS NOT NULL AND rate_limit_period_ms IS NOT NULL;

-- Which keys have which role, so that "does a key have role X" (a role
-- cannot be deleted while one does) is an index lookup, not a scan of keys.
-- The triggers keep it in step with keys.roles in the transaction of every
-- write to keys, whatever statement makes it.
CREATE TABLE key_roles (
	role   TEXT NOT NULL,
	key_id TEXT NOT NULL,
	PRIMARY KEY (role, key_id)
) WITHOUT ROWID;
CREATE INDEX key_roles_key ON key_roles (key_id);
CREATE TRIGGER keys_roles_insert AFTER INSERT ON keys WHEN new.roles <> '[]' BEGIN
	INSERT OR IGNORE INTO key_roles (role, key_id) SELECT value, new.id FROM json_each(new.roles);
END;
CREATE TRIGGER keys_roles_update AFTER UPDATE OF id, roles ON keys WHEN old.roles IS NOT new.roles OR old.id IS NOT new.id BEGIN
	DELETE FROM key_roles WHERE key_id = old.id;
	INSERT OR IGNORE INTO key_roles (role, key_id) SELECT value, new.id FROM json_each(new.roles);
END;
CREATE TRIGGER keys_roles_delete AFTER DELETE ON keys WHEN old.roles <> '[]' BEGIN
	DELETE FROM key_roles WHERE key_id = old.id;
END;

-- Owner records: settings shared by the keys whose owner equals name. The
-- credit columns mean what they mean on keys. Names sort byte-wise (BINARY).
CREATE TABLE owners (
	name            TEXT PRIMARY KEY,
	metadata        TEXT NOT NULL DEFAULT '{}',
	rate_limits     TEXT NOT NULL DEFAULT '[]',
	remaining       INTEGER,
	refill_interval TEXT,
	refill_amount   INTEGER,
	refilled_at     INTEGER,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- Roles: named sets of scopes (a JSON array).
CREATE TABLE roles (
	name        TEXT PRIMARY KEY,
	description TEXT NOT NULL DEFAULT '',
	scopes      TEXT NOT NULL DEFAULT '[]',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Usage counts per owner (the owner a key carried when it was used), minute
-- and outcome, as usage is per key.
CREATE TABLE owner_usage (
	owner   TEXT NOT NULL,
	minute  INTEGER NOT NULL,
	outcome TEXT NOT NULL,
	count   INTEGER NOT NULL,
	PRIMARY KEY (owner, minute, outcome)
) WITHOUT ROWID;

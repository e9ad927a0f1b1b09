-- 0003: named rate limits and roles on keys; owner records, roles, owner usage.

-- rate_limits holds every limit of the key, "default" included, as
-- [{"name": ..., "limit": ..., "period_ms": ...}] (the store's encoding, not
-- the API's); rate_limit_limit and rate_limit_period_ms keep holding the
-- "default" entry. roles holds role names, as scopes holds scopes. Adding a
-- column with a constant default rewrites no row.
ALTER TABLE keys ADD COLUMN rate_limits jsonb NOT NULL DEFAULT '[]';
ALTER TABLE keys ADD COLUMN roles text[] NOT NULL DEFAULT '{}';

-- A key's rate_limit becomes the "default" entry of its rate_limits.
UPDATE keys SET rate_limits = jsonb_build_array(jsonb_build_object(
	'name', 'default', 'limit', rate_limit_limit, 'period_ms', rate_limit_period_ms))
WHERE rate_limit_limit IS NOT NULL AND rate_limit_period_ms IS NOT NULL;

-- Which keys have which role, so that "does a key have role X" (a role
-- cannot be deleted while one does) is an index lookup, not a scan of keys.
-- The triggers keep it in step with keys.roles in the transaction of every
-- write to keys, whatever statement makes it; a write that leaves roles
-- unchanged (a credit spend, last_used_at) does not touch it.
CREATE TABLE key_roles (
	role   text COLLATE "C" NOT NULL,
	key_id text COLLATE "C" NOT NULL,
	PRIMARY KEY (role, key_id)
);
CREATE INDEX key_roles_key_idx ON key_roles (key_id);

-- SET search_path FROM CURRENT: the function finds key_roles in the schema
-- it was created in, whatever the search_path of the session that fires it.
CREATE FUNCTION keyward_sync_key_roles() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		DELETE FROM key_roles WHERE key_id = OLD.id;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		INSERT INTO key_roles (role, key_id)
		SELECT DISTINCT r, NEW.id FROM unnest(NEW.roles) AS r
		ON CONFLICT DO NOTHING;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER keys_roles_insert AFTER INSERT ON keys FOR EACH ROW
	WHEN (cardinality(NEW.roles) > 0) EXECUTE FUNCTION keyward_sync_key_roles();
CREATE TRIGGER keys_roles_update AFTER UPDATE OF id, roles ON keys FOR EACH ROW
	WHEN (OLD.roles IS DISTINCT FROM NEW.roles OR OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION keyward_sync_key_roles();
CREATE TRIGGER keys_roles_delete AFTER DELETE ON keys FOR EACH ROW
	WHEN (cardinality(OLD.roles) > 0) EXECUTE FUNCTION keyward_sync_key_roles();

-- Owner records: settings shared by the keys whose owner equals name. The
-- credit columns mean what they mean on keys. Names sort byte-wise (as Go
-- compares strings), whatever the database's collation.
CREATE TABLE owners (
	name            text COLLATE "C" PRIMARY KEY,
	metadata        jsonb       NOT NULL,
	rate_limits     jsonb       NOT NULL DEFAULT '[]',
	remaining       bigint      NULL,
	refill_interval text        NULL,
	refill_amount   bigint      NULL,
	refilled_at     timestamptz NULL,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL
);

-- Roles: named sets of scopes.
CREATE TABLE roles (
	name        text COLLATE "C" PRIMARY KEY,
	description text        NOT NULL DEFAULT '',
	scopes      text[]      NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

-- Usage counts per owner (the owner a key carried when it was used), minute
-- and outcome, as usage is per key.
CREATE TABLE owner_usage (
	owner   text   NOT NULL,
	minute  bigint NOT NULL,
	outcome text   NOT NULL,
	count   bigint NOT NULL,
	PRIMARY KEY (owner, minute, outcome)
);

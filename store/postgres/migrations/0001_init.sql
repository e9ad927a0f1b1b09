-- 0001: keys, usage counts and the audit log.

-- Trigram indexes make the case-insensitive name search (LIKE '%x%') fast.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE keys (
	-- Ids are compared byte by byte (as Go does), whatever the database's
	-- collation: list order and cursors depend on it.
	id                   text COLLATE "C" PRIMARY KEY,
	prefix               text        NOT NULL,
	name                 text        NOT NULL,
	description          text        NOT NULL DEFAULT '',
	owner                text        NOT NULL DEFAULT '',
	scopes               text[]      NOT NULL,
	metadata             jsonb       NOT NULL,
	enabled              boolean     NOT NULL,
	created_at           timestamptz NOT NULL,
	updated_at           timestamptz NOT NULL,
	expires_at           timestamptz NULL,
	last_used_at         timestamptz NULL,
	revoked_at           timestamptz NULL,
	refilled_at          timestamptz NULL,
	rate_limit_limit     bigint      NULL,
	rate_limit_period_ms bigint      NULL,
	remaining            bigint      NULL,
	refill_interval      text        NULL,
	refill_amount        bigint      NULL,
	allowed_cidrs        text[]      NOT NULL,
	replaced_by          text        NULL,
	replaces             text        NULL,
	hash                 text        NOT NULL
);

-- List: newest first, optionally by owner, by status, by name.
CREATE INDEX keys_created_idx ON keys (created_at DESC, id DESC);
CREATE INDEX keys_owner_created_idx ON keys (owner, created_at DESC, id DESC);
CREATE INDEX keys_revoked_created_idx ON keys (created_at DESC, id DESC) WHERE revoked_at IS NOT NULL;
CREATE INDEX keys_name_trgm_idx ON keys USING gin (lower(name) gin_trgm_ops);

-- Verification counts per key, minute (Unix seconds of its start) and
-- outcome code. No foreign key: counts outlive deleted keys.
CREATE TABLE usage (
	key_id  text   NOT NULL,
	minute  bigint NOT NULL,
	outcome text   NOT NULL,
	count   bigint NOT NULL,
	PRIMARY KEY (key_id, minute, outcome)
);

-- Admin actions, newest first by id; entries outlive deleted keys.
CREATE TABLE audit (
	id        bigserial   PRIMARY KEY,
	at        timestamptz NOT NULL,
	actor     text        NOT NULL,
	action    text        NOT NULL,
	key_id    text        NOT NULL,
	client_ip text        NOT NULL,
	details   jsonb       NOT NULL
);

CREATE INDEX audit_key_id_idx ON audit (key_id, id DESC);

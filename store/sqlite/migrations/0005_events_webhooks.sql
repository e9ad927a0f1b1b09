-- 0005: the events outbox, webhook endpoints, their deliveries and the log
-- of delivery attempts. (Version 0004 is reserved for another change; the
-- migrator applies each version that is not recorded, so the gap is fine.)

-- Webhook endpoints. events is a JSON array of types, or ["*"]. secret is
-- the signing secret ("whsec_..."), kept so that deliveries can be signed:
-- the file is readable by its owner only, as it holds key hashes.
CREATE TABLE webhooks (
	id          TEXT PRIMARY KEY,
	url         TEXT NOT NULL,
	events      TEXT NOT NULL DEFAULT '[]',
	description TEXT NOT NULL DEFAULT '',
	enabled     INTEGER NOT NULL,
	secret      TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- The outbox: events are written in the transaction of the change that
-- causes them, then fanned out (once) into deliveries. webhook names the
-- only endpoint of a targeted event (webhook.test), '' for all.
CREATE TABLE events (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	id      TEXT NOT NULL UNIQUE,
	type    TEXT NOT NULL,
	at      INTEGER NOT NULL,
	data    TEXT NOT NULL,
	webhook TEXT NOT NULL DEFAULT '',
	fanned  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_pending ON events (seq) WHERE fanned = 0;
CREATE INDEX events_fanned ON events (at) WHERE fanned = 1;

-- Dedupe keys of events that must fire once (key.expiring,
-- credits_exhausted); they outlive their events.
CREATE TABLE event_dedupe (
	dedupe TEXT PRIMARY KEY,
	at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX event_dedupe_at ON event_dedupe (at);

-- One delivery per event and endpoint. next_at is when it is due; while a
-- dispatcher holds it (claim is its token), the end of that lease.
CREATE TABLE deliveries (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	event_seq  INTEGER NOT NULL REFERENCES events (seq),
	webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	attempts   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	first_at   INTEGER,
	last_at    INTEGER,
	next_at    INTEGER NOT NULL,
	claim      TEXT,
	done       INTEGER NOT NULL DEFAULT 0,
	UNIQUE (event_seq, webhook_id)
);
CREATE INDEX deliveries_due ON deliveries (webhook_id, done, next_at);
CREATE INDEX deliveries_pending ON deliveries (next_at) WHERE done = 0;
CREATE INDEX deliveries_finished ON deliveries (last_at) WHERE done = 1;

-- Every attempt, for GET /v1/webhooks/{id}/deliveries, newest first.
CREATE TABLE attempts (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	event_id   TEXT NOT NULL,
	type       TEXT NOT NULL,
	attempt    INTEGER NOT NULL,
	at         INTEGER NOT NULL,
	status     INTEGER NOT NULL,
	error      TEXT NOT NULL,
	next_at    INTEGER
);
CREATE INDEX attempts_webhook ON attempts (webhook_id, id DESC);
CREATE INDEX attempts_at ON attempts (at);

-- Keys by expiry, for key.expiring.
CREATE INDEX keys_expiring ON keys (expires_at, id) WHERE revoked_at IS NULL AND expires_at IS NOT NULL;

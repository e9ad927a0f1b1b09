-- 0005: the events outbox, webhook endpoints, their deliveries and the log
-- of delivery attempts. (Version 0004 is reserved for another change; the
-- migrator applies each version that is not recorded, so the gap is fine.)

-- Webhook endpoints. events lists types, or {*}. secret is the signing
-- secret ("whsec_..."), kept so that deliveries can be signed.
CREATE TABLE webhooks (
	id          text COLLATE "C" PRIMARY KEY,
	url         text        NOT NULL,
	events      text[]      NOT NULL,
	description text        NOT NULL DEFAULT '',
	enabled     boolean     NOT NULL,
	secret      text        NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

-- The outbox: events are written in the transaction of the change that
-- causes them, then fanned out (once) into deliveries. webhook names the
-- only endpoint of a targeted event (webhook.test), '' for all.
CREATE TABLE events (
	seq     bigserial   PRIMARY KEY,
	id      text        NOT NULL UNIQUE,
	type    text        NOT NULL,
	at      timestamptz NOT NULL,
	data    jsonb       NOT NULL,
	webhook text        NOT NULL DEFAULT '',
	fanned  boolean     NOT NULL DEFAULT false
);
CREATE INDEX events_pending_idx ON events (seq) WHERE NOT fanned;
CREATE INDEX events_fanned_idx ON events (at) WHERE fanned;

-- Dedupe keys of events that must fire once (key.expiring,
-- credits_exhausted); they outlive their events.
CREATE TABLE event_dedupe (
	dedupe text        PRIMARY KEY,
	at     timestamptz NOT NULL
);
CREATE INDEX event_dedupe_at_idx ON event_dedupe (at);

-- One delivery per event and endpoint. next_at is when it is due; while a
-- dispatcher holds it (claim is its token), the end of that lease.
CREATE TABLE deliveries (
	id         bigserial   PRIMARY KEY,
	event_seq  bigint      NOT NULL REFERENCES events (seq),
	webhook_id text COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	attempts   int         NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL,
	first_at   timestamptz NULL,
	last_at    timestamptz NULL,
	next_at    timestamptz NOT NULL,
	claim      text        NULL,
	done       boolean     NOT NULL DEFAULT false,
	UNIQUE (event_seq, webhook_id)
);
CREATE INDEX deliveries_due_idx ON deliveries (webhook_id, done, next_at);
CREATE INDEX deliveries_finished_idx ON deliveries (last_at) WHERE done;

-- Every attempt, for GET /v1/webhooks/{id}/deliveries, newest first.
CREATE TABLE attempts (
	id         bigserial   PRIMARY KEY,
	webhook_id text COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	event_id   text        NOT NULL,
	type       text        NOT NULL,
	attempt    int         NOT NULL,
	at         timestamptz NOT NULL,
	status     int         NOT NULL,
	error      text        NOT NULL,
	next_at    timestamptz NULL
);
CREATE INDEX attempts_webhook_idx ON attempts (webhook_id, id DESC);
CREATE INDEX attempts_at_idx ON attempts (at);

-- Keys by expiry, for key.expiring.
CREATE INDEX keys_expiring_idx ON keys (expires_at, id) WHERE revoked_at IS NULL AND expires_at IS NOT NULL;

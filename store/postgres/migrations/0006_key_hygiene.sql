-- 0006: the filters on use and expiry of the key list (unused_for,
-- expires_within, never used, no expiry) and the counts of the admin page's
-- hygiene card. (0005 is the events and webhooks migration.)

-- Keys by expiry, newest first within one expiry (and among those without):
-- a window of expiries is a range to sort, keys without expiry a range in
-- list order; the included columns let the counts of active keys scan the
-- index only.
CREATE INDEX keys_expires_idx ON keys (expires_at, created_at DESC, id DESC) INCLUDE (revoked_at, enabled);

-- Keys by last use, in the same way (never used: last_used_at IS NULL).
-- Usage flushes move each used key's entry: one index write more per key and
-- flush (those updates are not HOT anyway: the rows fill their pages).
CREATE INDEX keys_used_idx ON keys (last_used_at, created_at DESC, id DESC) INCLUDE (revoked_at, enabled, expires_at);

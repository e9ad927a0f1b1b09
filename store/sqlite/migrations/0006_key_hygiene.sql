-- 0006: the filters on use and expiry of the key list (unused_for,
-- expires_within, never used, no expiry) and the counts of the admin page's
-- hygiene card. (0005 is the events and webhooks migration.)

-- used_day is the day of last_used_at (Unix milliseconds / 86400000), kept
-- by the triggers below whatever statement writes last_used_at. The list
-- index holds it rather than last_used_at: usage flushes move last_used_at
-- every second, but used_day (and so the index entry) once a day at most.
ALTER TABLE keys ADD COLUMN used_day INTEGER;
UPDATE keys SET used_day = last_used_at / 86400000 WHERE last_used_at IS NOT NULL;
CREATE TRIGGER keys_used_day_insert AFTER INSERT ON keys WHEN new.last_used_at IS NOT NULL BEGIN
	UPDATE keys SET used_day = new.last_used_at / 86400000 WHERE rid = new.rid;
END;
CREATE TRIGGER keys_used_day_update AFTER UPDATE OF last_used_at ON keys
WHEN new.last_used_at / 86400000 IS NOT new.used_day BEGIN
	UPDATE keys SET used_day = new.last_used_at / 86400000 WHERE rid = new.rid;
END;

-- The list index also holds what the filters and the status look at, so
-- that a filtered page reads the rows of the keys it returns (and of keys
-- last used on the day of an unused_for bound) only, and the counts read the
-- index only.
DROP INDEX keys_created;
CREATE INDEX keys_created ON keys (created_at DESC, id DESC, used_day, expires_at, revoked_at, enabled);

-- Keys by expiry (NULL first: no expiry), newest first within one expiry: a
-- window of expiries is a range to sort, keys without expiry a range in list
-- order; revoked_at and enabled let the counts of active keys read the index
-- only.
CREATE INDEX keys_expires ON keys (expires_at, created_at DESC, id DESC, revoked_at, enabled);

#!/usr/bin/python3
"""Make keyshield fixtures that keyshield's own run did not cover.

keyshield-argon2/ was made by keyshield 2.0.0 itself. This script makes two
more databases by following keyshield's published scheme, with Debian's
python3-bcrypt and python3-argon2 (apt-get install python3-bcrypt
python3-argon2; run with /usr/bin/python3 from this directory):

  keyshield-bcrypt/  keyshield's bcrypt hasher: bcrypt (12 rounds) over the
                     raw HMAC-SHA256 of the secret keyed by the pepper (UTF-8
                     both). Default format ak_v1-<key_id>-<secret>.
  keyshield-prefix/  keyshield's default Argon2 hasher (argon2-cffi 25's
                     PasswordHasher defaults: argon2id, t=3, m=64 MiB, p=4,
                     32-byte hash, 16-byte salt) over secret + pepper, with a
                     non-default format acme_live.<key_id>.<secret>; one key
                     with a custom 16-character key id (keyshield's create()
                     and load_dotenv() accept any), one with a key id keyward
                     cannot use (refused by the import).

keyshield's scheme, as its source states it: key_id is the first 16 hex digits
of a uuid4; the secret is 64 characters drawn from [A-Za-z0-9]; only the
secret is hashed; the key string is <prefix><separator><key_id><separator>
<secret>. The table is the one its SQLAlchemy repository creates (api_keys),
with times written as SQLAlchemy writes them to SQLite (naive UTC,
"YYYY-MM-DD HH:MM:SS.ffffff") and scopes as JSON text.

keys.json lists every key with the outcome keyward must give it after an
import (REFUSED rows are not imported; their strings are then MALFORMED).
The outputs are committed; rerunning makes new keys and hashes.
"""

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import string
import uuid
from datetime import datetime, timedelta, timezone

import bcrypt
from argon2 import PasswordHasher

DDL = """
CREATE TABLE api_keys (
	id VARCHAR(36) NOT NULL,
	name VARCHAR(128),
	description TEXT,
	is_active BOOLEAN NOT NULL,
	expires_at DATETIME,
	created_at DATETIME NOT NULL,
	last_used_at DATETIME,
	key_id VARCHAR(16) NOT NULL,
	key_hash VARCHAR(255) NOT NULL,
	key_secret_first VARCHAR(4) NOT NULL,
	key_secret_last VARCHAR(4) NOT NULL,
	scopes JSON NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (key_hash)
);
CREATE UNIQUE INDEX ix_api_keys_key_id ON api_keys (key_id);
"""

ARGON2 = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16)
ALPHABET = string.ascii_letters + string.digits
NOW = datetime.now(timezone.utc)


def sqlalchemy_time(t):
    return None if t is None else t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def argon2_hash(pepper, secret):
    return ARGON2.hash(secret + pepper)


def bcrypt_input(pepper, secret):
    return hmac.digest(pepper.encode("utf-8"), secret.encode("utf-8"), hashlib.sha256)


def bcrypt_hash(pepper, secret):
    return bcrypt.hashpw(bcrypt_input(pepper, secret), bcrypt.gensalt(12)).decode("utf-8")


def new_secret(pepper, hasher):
    while True:
        s = "".join(secrets.choice(ALPHABET) for _ in range(64))
        # keyshield's bcrypt hasher fails on a digest with a NUL byte (its
        # bcrypt refuses it), so no stored key has one: draw again, as a
        # keyshield user would have.
        if hasher != "bcrypt" or b"\x00" not in bcrypt_input(pepper, s):
            return s


def make(folder, pepper, hasher, prefix, sep, rows):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "keyshield.sqlite3")
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.executescript(DDL)
    keys = {}
    for r in rows:
        key_id = r.get("key_id") or uuid.uuid4().hex[:16]
        secret = new_secret(pepper, hasher)
        h = argon2_hash(pepper, secret) if hasher == "argon2" else bcrypt_hash(pepper, secret)
        db.execute(
            "INSERT INTO api_keys VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (uuid.uuid4().hex, r.get("name"), r.get("description"), 1 if r.get("active", True) else 0,
             sqlalchemy_time(r.get("expires_at")), sqlalchemy_time(NOW), sqlalchemy_time(r.get("last_used_at")),
             key_id, h, secret[:4], secret[-4:], json.dumps(r.get("scopes", []))),
        )
        entry = {"key": f"{prefix}{sep}{key_id}{sep}{secret}", "id": key_id, "expect": r["expect"], "scopes": r.get("scopes", [])}
        if "refused" in r:
            entry["refused"] = r["refused"]
        keys[r["label"]] = entry
    db.commit()
    db.close()
    doc = {"pepper": pepper, "hasher": hasher, "prefix": prefix, "separator": sep, "keys": keys}
    with open(os.path.join(folder, "keys.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def main():
    make("keyshield-bcrypt", "keyshield-fixture-pepper-bcrypt-" + secrets.token_hex(4), "bcrypt", "ak_v1", "-", [
        {"label": "alpha", "name": "alpha", "scopes": ["read"], "expect": "VALID"},
        {"label": "beta", "name": "beta", "description": "expires in ten years",
         "expires_at": NOW + timedelta(days=3650), "expect": "VALID"},
        {"label": "gamma", "name": "gamma", "active": False, "expect": "DISABLED"},
        {"label": "delta", "name": "delta", "expires_at": NOW - timedelta(days=2), "expect": "EXPIRED"},
        {"label": "epsilon", "name": "epsilon", "scopes": ["read", "write"],
         "last_used_at": NOW - timedelta(hours=1), "expect": "VALID"},
    ])
    make("keyshield-prefix", "keyshield-fixture-pepper-prefix-" + secrets.token_hex(4), "argon2", "acme_live", ".", [
        {"label": "plain", "name": "plain", "scopes": ["billing:read"], "expect": "VALID"},
        {"label": "unnamed", "expect": "VALID"},
        {"label": "custom_id", "name": "from .env", "key_id": "CustomKeyId00001", "expect": "VALID"},
        {"label": "long_id", "name": "id too long", "key_id": "custom-key-id-20ch", "expect": "MALFORMED",
         "refused": "key_id"},
        {"label": "lapsed", "name": "lapsed", "expires_at": NOW - timedelta(days=30), "expect": "EXPIRED"},
    ])


if __name__ == "__main__":
    main()

package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyward/keyward"
)

// statusUnknown is the status of a key found by keyward scan that is not in
// the database: no key has its id, or the key with that id has another
// prefix (so the string found is not that key).
const statusUnknown = "unknown"

// scanActor is the audit actor of the keys keyward scan revokes.
const scanActor = "scan"

// scanDB looks up, and with --revoke revokes, the keys keyward scan finds.
type scanDB struct {
	env    *keysEnv
	revoke bool
	seen   map[string]string // status by prefix_id, after any revocation
}

func (d *scanDB) Close() { d.env.Close() }

// openScanDB opens the database of --check and --revoke, which must exist
// and be migrated, with the database's pepper: a key found is matched by its
// whole string, secret included, so that a forged string carrying a real
// key's id (anyone can compute a right checksum) is never taken for it.
func (a *app) openScanDB(ctx context.Context, o *scanOptions) (*scanDB, error) {
	ko := &keysOptions{databaseURL: o.databaseURL, redisURL: o.redisURL, pepperFile: o.pepperFile, hasher: "hmac", output: "table"}
	env, err := a.open(ctx, ko, verb{})
	if err != nil {
		return nil, err
	}
	env.ctx = keyward.NewActorContext(ctx, keyward.Actor{ID: scanActor})
	return &scanDB{env: env, revoke: o.revoke, seen: map[string]string{}}, nil
}

// lookUp sets f's status and, with --revoke, revokes the key if it is not
// revoked yet. key is the whole string found: a key is "unknown" unless the
// string is that key (Service.Identify). Each string is looked up once per
// scan.
func (d *scanDB) lookUp(f *finding, key string) error {
	name := f.Prefix + "_" + f.ID
	if st, ok := d.seen[key]; ok {
		f.Status = st
		return nil
	}
	svc, actx := d.env.svc, d.env.ctx
	k, err := svc.Identify(actx, key)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		f.Status = statusUnknown
	case err != nil:
		return fmt.Errorf("looking up key %s: %w", name, err)
	default:
		f.Status = string(k.Status(svc.Now()))
	}
	if d.revoke && f.Status != statusUnknown && f.Status != string(keyward.StatusRevoked) {
		if _, err := svc.Revoke(actx, f.ID); err != nil {
			return fmt.Errorf("revoking key %s: %w", f.ID, err)
		}
		f.Was, f.Status, f.Revoked = f.Status, string(keyward.StatusRevoked), true
	}
	d.seen[key] = f.Status
	return nil
}

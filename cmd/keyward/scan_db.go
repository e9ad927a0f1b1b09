package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
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
// and be migrated. Reading a status and revoking a key hash no secret and
// verify none, so the database's pepper is not needed: the Service gets a
// throwaway pepper that no key was hashed with and that nothing uses.
func (a *app) openScanDB(ctx context.Context, o *scanOptions) (*scanDB, error) {
	ko := &keysOptions{databaseURL: o.databaseURL, redisURL: o.redisURL, hasher: "hmac", output: "table"}
	u, redisOpts, err := ko.check()
	if err != nil {
		return nil, err
	}
	if u.kind == "sqlite" {
		if _, err := os.Stat(u.path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: the file does not exist (check --database-url)", u.path)
		}
	}
	base, err := openStore(ctx, u, openOptions{mustExist: true})
	if err != nil {
		return nil, err
	}
	env := &keysEnv{store: base, ctx: ctx, close: cleanup{func() { base.Close() }}}
	if err := checkSchema(ctx, base); err != nil {
		env.Close()
		return nil, err
	}
	secret := make([]byte, keyhash.MinPepperLength)
	rand.Read(secret)
	pepper, err := keyhash.NewPepper(secret)
	if err == nil {
		err = env.startService(ko, base, []keyhash.Pepper{pepper}, redisOpts)
	}
	if err != nil {
		env.Close()
		return nil, err
	}
	env.ctx = keyward.NewActorContext(ctx, keyward.Actor{ID: scanActor})
	return &scanDB{env: env, revoke: o.revoke, seen: map[string]string{}}, nil
}

// lookUp sets f's status and, with --revoke, revokes the key if it is not
// revoked yet. Each key is looked up once per scan.
func (d *scanDB) lookUp(f *finding) error {
	name := f.Prefix + "_" + f.ID
	if st, ok := d.seen[name]; ok {
		f.Status = st
		return nil
	}
	svc, actx := d.env.svc, d.env.ctx
	k, err := svc.Get(actx, f.ID)
	switch {
	case errors.Is(err, keyward.ErrNotFound), err == nil && k.Prefix != f.Prefix:
		f.Status = statusUnknown
	case err != nil:
		return fmt.Errorf("looking up key %s: %w", f.ID, err)
	default:
		f.Status = string(k.Status(svc.Now()))
	}
	if d.revoke && f.Status != statusUnknown && f.Status != string(keyward.StatusRevoked) {
		if _, err := svc.Revoke(actx, f.ID); err != nil {
			return fmt.Errorf("revoking key %s: %w", f.ID, err)
		}
		f.Was, f.Status, f.Revoked = f.Status, string(keyward.StatusRevoked), true
	}
	d.seen[name] = f.Status
	return nil
}

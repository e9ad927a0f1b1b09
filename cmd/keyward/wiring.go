package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
)

// dbURL is a parsed --database-url.
type dbURL struct {
	kind string // "sqlite" or "postgres"
	path string // sqlite file
	url  string // postgres URL
}

// parseDatabaseURL accepts sqlite:<path> (also sqlite://<path>) and
// postgres:// or postgresql:// URLs.
func parseDatabaseURL(s string) (dbURL, error) {
	switch {
	case s == "":
		return dbURL{}, errors.New("--database-url is empty: use sqlite:<path> or postgres://user@host/db")
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if p == "" {
			return dbURL{}, errors.New("--database-url sqlite: needs a file path, e.g. sqlite:keyward.db")
		}
		return dbURL{kind: "sqlite", path: p}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return dbURL{kind: "postgres", url: s}, nil
	}
	scheme, _, ok := strings.Cut(s, ":")
	if !ok {
		scheme = s
	}
	return dbURL{}, fmt.Errorf("--database-url: unsupported scheme %q: use sqlite:<path> or postgres://user@host/db", scheme)
}

// openOptions tunes openStore.
type openOptions struct {
	migrate   bool // bring the schema up to date
	mustExist bool // a SQLite file must exist already
}

// openStore opens the database named by u.
func openStore(ctx context.Context, u dbURL, o openOptions) (keyward.Store, error) {
	if u.kind == "sqlite" {
		return sqlite.Open(ctx, u.path, &sqlite.Options{Migrate: o.migrate, MustExist: o.mustExist})
	}
	return postgres.Open(ctx, u.url, &postgres.Options{Migrate: o.migrate})
}

// pepperSource says where peppers come from.
type pepperSource struct {
	env  string // KEYWARD_PEPPER
	file string // --pepper-file
}

// findPeppers returns the peppers: --pepper-file (a flag given wins over
// the environment), else KEYWARD_PEPPER, else (SQLite only) the file beside
// the database. When that file does not exist
// yet it returns no peppers and the file's path, for createPepper to write
// once every other input has been checked. A shared PostgreSQL needs an
// explicit pepper: every instance must use the same one. Every error is a
// configuration problem.
func findPeppers(u dbURL, src pepperSource) (peppers []keyhash.Pepper, missing string, err error) {
	if src.env != "" && src.file == "" {
		ps, err := keyhash.ParsePeppers(src.env)
		if err != nil {
			return nil, "", fmt.Errorf("KEYWARD_PEPPER: %w", err)
		}
		return ps, "", nil
	}
	path := src.file
	if path == "" {
		if u.kind != "sqlite" {
			return nil, "", errors.New("a PostgreSQL database is shared by several instances, so they need the same pepper: set KEYWARD_PEPPER or --pepper-file")
		}
		path = u.path + ".pepper"
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, path, nil
		}
	}
	ps, err := readPeppers(path)
	return ps, "", err
}

func readPeppers(path string) ([]keyhash.Pepper, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the pepper file: %w", err)
	}
	ps, err := keyhash.ParsePeppers(string(b))
	if err != nil {
		return nil, fmt.Errorf("pepper file %s: %w", path, err)
	}
	return ps, nil
}

// createPepper writes a random pepper to path (see findPeppers), warns on
// log that it must be backed up, and returns it.
func createPepper(path string, log *slog.Logger) ([]keyhash.Pepper, error) {
	if err := writeNewPepper(path); err != nil {
		return nil, err
	}
	log.Warn("created a random pepper beside the database; back it up with the database: without it no key verifies", "file", path)
	return readPeppers(path)
}

// writeNewPepper writes 32 random bytes (base64url) to a new 0600 file.
func writeNewPepper(path string) error {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating the pepper file: %w", err)
	}
	if _, err := f.WriteString(base64.RawURLEncoding.EncodeToString(b[:]) + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// buildHasher returns a hasher that hashes with the chosen scheme and
// verifies hashes of every scheme (so a change of --hasher keeps old keys
// working and rehashes them on use), and those imported from keyshield. The slow schemes need no memo of their
// own: keys verified through the cache remember their secret (see
// keyward.Key.EnableVerifyMemo), so a slow hash runs once per key per load.
func buildHasher(scheme string, peppers []keyhash.Pepper) (keyward.Hasher, error) {
	hm, err := keyhash.NewHMAC(peppers...)
	if err != nil {
		return nil, err
	}
	ar, err := keyhash.NewArgon2id(keyhash.Argon2Params{}, peppers...)
	if err != nil {
		return nil, err
	}
	bc, err := keyhash.NewBcrypt(0, peppers...)
	if err != nil {
		return nil, err
	}
	ks, err := keyhash.NewKeyshield(peppers...) // keys imported from keyshield, until their first use
	if err != nil {
		return nil, err
	}
	switch scheme {
	case "", "hmac", "hmac-sha256":
		return keyhash.NewMulti(hm, ar, bc, ks)
	case "argon2id":
		return keyhash.NewMulti(ar, hm, bc, ks)
	case "bcrypt":
		return keyhash.NewMulti(bc, hm, ar, ks)
	default:
		return nil, checkHasher(scheme)
	}
}

// checkHasher checks a --hasher value before any pepper is at hand.
func checkHasher(scheme string) error {
	switch scheme {
	case "", "hmac", "hmac-sha256", "argon2id", "bcrypt":
		return nil
	}
	return fmt.Errorf("--hasher: %q is not one of hmac, argon2id, bcrypt", scheme)
}

// cleanup is a list of things to close, run last first.
type cleanup []func()

func (c *cleanup) add(f func()) { *c = append(*c, f) }

// run calls the functions added so far, last first. Its pointer receiver
// matters: "defer done.run()" must see what is added after the defer
// statement (a value receiver would copy the list as it was then).
func (c *cleanup) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
}

// redisURLError says why a Redis URL does not parse without the URL itself:
// net/url quotes the whole URL in its errors, password included.
func redisURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

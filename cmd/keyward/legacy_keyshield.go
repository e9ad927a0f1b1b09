package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
)

// keyshieldPlaceholder is the pepper keyshield uses (with a warning) when
// its app sets none.
const keyshieldPlaceholder = "super-secret-pepper"

// keyshieldRow is one row of keyshield's api_keys table.
type keyshieldRow struct {
	n                              int // 1-based, for messages
	rowID, keyID, hash             string
	name, description              string
	active                         bool
	expiresAt, createdAt, lastUsed *time.Time
	scopes                         []string
	err                            error // why the row could not be read
}

// readKeyshield reads every row of keyshield's table. The columns are those
// of its SQLAlchemy model; scopes (added in keyshield 0.6) may be missing.
func readKeyshield(ctx context.Context, src *legacySource, table string) ([]keyshieldRow, error) {
	cols, err := src.columns(ctx, table)
	if err != nil {
		return nil, err
	}
	if err := checkColumns(src, table, "keyshield's api_keys table", cols,
		"key_id", "key_hash", "is_active", "name", "description", "expires_at", "created_at", "last_used_at"); err != nil {
		return nil, err
	}
	sel := []string{"key_id", "key_hash", "is_active", "name", "description", "expires_at", "created_at", "last_used_at", "NULL", "NULL"}
	if cols["scopes"] {
		sel[8] = "scopes"
	}
	if cols["id"] {
		sel[9] = "id"
	}
	var out []keyshieldRow
	err = src.selectEach(ctx, table, sel, "created_at, key_id", func(v []any) {
		out = append(out, keyshieldRowOf(len(out)+1, v))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// keyshieldRowOf reads the values selected by readKeyshield.
func keyshieldRowOf(n int, v []any) keyshieldRow {
	rv := rowValues{v: v}
	r := keyshieldRow{n: n, keyID: rv.string(0), hash: rv.string(1), active: rv.bool("is_active", 2),
		name: rv.string(3), description: rv.string(4),
		expiresAt: rv.time("expires_at", 5), createdAt: rv.time("created_at", 6), lastUsed: rv.time("last_used_at", 7),
		scopes: rv.strings("scopes", 8), rowID: rv.string(9)}
	r.err = rv.err()
	return r
}

// parseKeyshieldFormat reads --keyshield-format: keyshield's prefix followed
// by its separator (one character), "ak_v1-" by default.
func parseKeyshieldFormat(s string) (keyward.LegacyFormat, error) {
	f := keyward.LegacyFormat{Kind: keyward.LegacyKeyshield}
	if len(s) >= 2 {
		f.Prefix, f.Separator = s[:len(s)-1], s[len(s)-1:]
	}
	if err := f.Validate(); err != nil {
		return f, usagef("--keyshield-format %q: give keyshield's prefix followed by its separator, like ak_v1- (%s)",
			s, strings.TrimPrefix(err.Error(), "keyward: invalid input: "))
	}
	return f, nil
}

// readKeyshieldPepper reads --keyshield-pepper-file: the pepper as the
// keyshield app had it, a trailing line break aside.
func readKeyshieldPepper(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading --keyshield-pepper-file: %v", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return nil, fmt.Errorf("--keyshield-pepper-file %s is empty (a keyshield app that sets no pepper uses %q)", path, keyshieldPlaceholder)
	}
	return []byte(p), nil
}

// checkKeyshieldPepper verifies the keys of the file at path (one per line,
// keys the operator holds) against their rows with the pepper: keyshield's
// hashes cannot be checked without a secret, and keys hashed with a wrong
// pepper would never verify. Every key must match; the error says how many
// did not. It reports whether keyshield's bcrypt hashes are over the HMAC
// digest in hexadecimal digits (see keyhash.KeyshieldMatch).
func checkKeyshieldPepper(path string, f keyward.LegacyFormat, pepper []byte, rows []keyshieldRow) (bcryptOverHex bool, err error) {
	file, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("reading --keyshield-check-keys: %v", err)
	}
	defer file.Close()
	byID := map[string]*keyshieldRow{}
	for i := range rows {
		byID[rows[i].keyID] = &rows[i]
	}
	var probs []string
	checked, failed := 0, 0
	encodings := map[bool]int{} // bcrypt keys that matched, by hexadecimal input
	sc := bufio.NewScanner(file)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, secret, ok := f.Parse(line)
		switch r := byID[id]; {
		case !ok:
			probs = append(probs, fmt.Sprintf("line %d of %s is not a key of the form %s<key_id>%s<secret>", n, path, f.Prefix+f.Separator, f.Separator))
		case r == nil:
			probs = append(probs, fmt.Sprintf("line %d of %s: no row has key_id %s", n, path, id))
		default:
			checked++
			ok, overHex := keyhash.KeyshieldMatch(r.hash, pepper, secret)
			switch {
			case !ok:
				failed++
			case strings.HasPrefix(r.hash, "$2"):
				encodings[overHex]++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("reading --keyshield-check-keys: %v", err)
	}
	if len(probs) > 0 {
		return false, fmt.Errorf("nothing imported:\n  %s", strings.Join(probs, "\n  "))
	}
	if checked == 0 {
		return false, fmt.Errorf("nothing imported: --keyshield-check-keys %s holds no key", path)
	}
	if failed > 0 {
		return false, fmt.Errorf("nothing imported: %d of %d check keys did not verify with the pepper in --keyshield-pepper-file: it is not the pepper these keys were hashed with (a keyshield app that sets none uses %q)", failed, checked, keyshieldPlaceholder)
	}
	if encodings[true] > 0 && encodings[false] > 0 {
		return false, fmt.Errorf("nothing imported: of the check keys with bcrypt hashes, %d match the HMAC digest given raw and %d given in hexadecimal digits: one keyshield app hashes one way", encodings[false], encodings[true])
	}
	return encodings[true] > 0, nil
}

// keyshieldKey turns a row into a keyward key with its hash kept as
// keyshield made it, or says why it cannot be imported.
func keyshieldKey(r keyshieldRow, f keyward.LegacyFormat, imp *keyhash.KeyshieldImport, defaultPrefix string) (*keyward.Key, string) {
	if r.err != nil {
		return nil, r.err.Error()
	}
	if !keyward.ValidID(r.keyID) {
		return nil, fmt.Sprintf("key_id %q is not 16 letters and digits, which keyward ids are", r.keyID)
	}
	hash, err := imp.Wrap(r.hash)
	if err != nil {
		return nil, "key_hash: " + strings.TrimPrefix(err.Error(), "keyhash: ")
	}
	meta, _ := json.Marshal(map[string]string{"imported_from": "keyshield", "keyshield_id": r.rowID})
	k := &keyward.Key{
		ID: r.keyID, Prefix: f.Prefix, Name: r.name, Description: r.description, Scopes: r.scopes,
		Metadata: meta, Enabled: r.active, ExpiresAt: r.expiresAt, LastUsedAt: r.lastUsed, Hash: hash,
	}
	if keyward.ValidatePrefix(k.Prefix) != nil {
		k.Prefix = defaultPrefix // successors after a rotation are native keys
	}
	if k.Name == "" {
		k.Name = "imported from keyshield"
	}
	if r.createdAt != nil {
		k.CreatedAt = *r.createdAt
	}
	return k, ""
}

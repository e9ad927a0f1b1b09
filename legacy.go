package keyward

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Legacy key formats: key strings of the systems keyward imports keys from
// (DESIGN section 12), which keep verifying after an import. The formats a
// deployment accepts are a setting in the store, so every instance and the
// CLI accept them without a flag.
const (
	// LegacyKeyshield is keyshield's (fastapi-api-key's) format:
	// <prefix><separator><key id><separator><secret>, "ak_v1-<16 hex>-<64
	// base62>" by default. The key id is the keyward id.
	LegacyKeyshield = "keyshield"
	// LegacySimpleSecurity is fastapi_simple_security's format: a UUID
	// string, which is the whole secret. Its id is [SimpleSecurityID].
	LegacySimpleSecurity = "simple-security"

	// SettingLegacyFormats names the setting that lists the accepted
	// formats, a JSON array of [LegacyFormat].
	SettingLegacyFormats = "legacy_formats"
	// ActionLegacyFormats is the audit action of a change to that list.
	ActionLegacyFormats = "settings.legacy_formats"

	// MaxLegacySecretLength bounds the secret of a legacy key string.
	MaxLegacySecretLength = 256
	// DefaultLegacyRefresh is how often a Service re-reads the formats by
	// default (see Options.LegacyFormatsRefresh).
	DefaultLegacyRefresh = 30 * time.Second
)

// LegacyFormat is one key string format of another system whose keys were
// imported.
type LegacyFormat struct {
	// Kind is LegacyKeyshield or LegacySimpleSecurity.
	Kind string `json:"kind"`
	// Prefix and Separator of a keyshield format ("ak_v1" and "-" by
	// default); empty for the others.
	Prefix    string `json:"prefix,omitempty"`
	Separator string `json:"separator,omitempty"`
	// Dummy, if set, is a hash string in the scheme and with the parameters
	// of the imported hashes, of a secret no key has. A presentation in this
	// format that ends NOT_FOUND without having run a hash of that scheme (an
	// unknown id, or a key whose hash was upgraded already) is checked
	// against it too, so that it costs what a wrong secret on a key still
	// holding its imported hash costs: timing tells nothing about the id.
	Dummy string `json:"dummy,omitempty"`
}

// Validate reports what is wrong with f.
func (f LegacyFormat) Validate() error {
	var p problems
	switch f.Kind {
	case LegacyKeyshield:
		if f.Prefix == "" || len(f.Prefix) > 64 || !printable(f.Prefix) {
			p.add("prefix", "must be 1-64 printable ASCII characters without spaces")
		}
		if f.Separator == "" || len(f.Separator) > 4 || !printable(f.Separator) || strings.ContainsFunc(f.Separator, isAlnum) {
			p.add("separator", "must be 1-4 printable ASCII characters, none a letter or digit (keyshield's default is -)")
		} else if strings.Contains(f.Prefix, f.Separator) {
			p.add("separator", "must not appear in the prefix")
		}
	case LegacySimpleSecurity:
		if f.Prefix != "" || f.Separator != "" {
			p.add("prefix", "simple-security keys have no prefix or separator")
		}
	default:
		p.add("kind", fmt.Sprintf("must be %q or %q", LegacyKeyshield, LegacySimpleSecurity))
	}
	if f.Dummy != "" && (!strings.HasPrefix(f.Dummy, "$") || len(f.Dummy) > 1024) {
		p.add("dummy", "must be a hash string")
	}
	return p.err()
}

// same reports whether f and g describe the same key strings.
func (f LegacyFormat) same(g LegacyFormat) bool {
	return f.Kind == g.Kind && f.Prefix == g.Prefix && f.Separator == g.Separator
}

// String names the format for people: "keyshield ak_v1-", "simple-security".
func (f LegacyFormat) String() string {
	if f.Kind == LegacyKeyshield {
		return f.Kind + " " + f.Prefix + f.Separator
	}
	return f.Kind
}

// Parse returns the keyward id and the secret of key if it is in this
// format.
func (f LegacyFormat) Parse(key string) (id, secret string, ok bool) {
	switch f.Kind {
	case LegacyKeyshield:
		rest, found := strings.CutPrefix(key, f.Prefix)
		if !found {
			return "", "", false
		}
		if rest, found = strings.CutPrefix(rest, f.Separator); !found || len(rest) <= IDLength {
			return "", "", false
		}
		id = rest[:IDLength]
		if secret, found = strings.CutPrefix(rest[IDLength:], f.Separator); !found || !ValidID(id) {
			return "", "", false
		}
		if secret == "" || len(secret) > MaxLegacySecretLength || !printable(secret) || strings.Contains(secret, f.Separator) {
			return "", "", false
		}
		return id, secret, true
	case LegacySimpleSecurity:
		if !isUUID(key) {
			return "", "", false
		}
		return SimpleSecurityID(key), key, true
	}
	return "", "", false
}

// SimpleSecurityID returns the keyward id of a fastapi_simple_security key:
// 16 base62 characters of a labelled SHA-256 of the key, a one-way function,
// so the id (public: in URLs, logs, listings) tells nothing about the key.
func SimpleSecurityID(key string) string {
	const label = "keyward-ss\x00" // short: label and UUID fit one SHA-256 block
	var buf [len(label) + 36]byte  // a UUID string, without allocating
	in := append(buf[:0], label...)
	sum := sha256.Sum256(append(in, key...))
	var id [IDLength]byte
	for i := range id {
		id[i] = base62Alphabet[sum[i]%62]
	}
	return string(id[:])
}

// isUUID reports whether s is a UUID in its canonical text form
// (8-4-4-4-12 hexadecimal digits).
func isUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	var bad byte
	for _, part := range [...]string{s[:8], s[9:13], s[14:18], s[19:23], s[24:]} {
		for i := 0; i < len(part); i++ {
			bad |= hexValues[part[i]]
		}
	}
	return bad&0x80 == 0
}

// hexValues maps hexadecimal digits (either case) to their value and every
// other byte to 0xff.
var hexValues = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	for i, c := range "ABCDEF" {
		t[c] = byte(10 + i)
	}
	return t
}()

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// legacyState is the Service's copy of the accepted formats, read from the
// store lazily: on the first key string that is not a native key, then
// again when the copy is older than the refresh interval. Native keys never
// look at it.
type legacyState struct {
	refresh time.Duration
	set     atomic.Pointer[legacySet]
	mu      sync.Mutex // held by the one reader refreshing set
}

type legacySet struct {
	formats []LegacyFormat
	err     error // the formats could not be read and no copy was at hand
	expires time.Time
}

// result returns ls, or its error.
func (ls *legacySet) result() (*legacySet, error) {
	if ls.err != nil {
		return nil, ls.err
	}
	return ls, nil
}

// parse returns the format key is in, with its id and secret.
func (ls *legacySet) parse(key string) (f *LegacyFormat, id, secret string, ok bool) {
	for i := range ls.formats {
		if id, secret, ok = ls.formats[i].Parse(key); ok {
			return &ls.formats[i], id, secret, true
		}
	}
	return nil, "", "", false
}

// legacyRetry is how long a failed read of the formats stands before the
// store is asked again.
const legacyRetry = time.Second

// legacyFormats returns the accepted formats, reading them when the copy is
// missing or too old. While another verification refreshes the copy, the
// old one answers; when the store cannot be read the old one answers too
// (and is read again a second later). Without any copy the error returns,
// and stands for a second: strings that are not native keys do not each
// send a read to a store that is down.
func (s *Service) legacyFormats(ctx context.Context) (*legacySet, error) {
	now := s.now()
	ls := &s.legacy
	cur := ls.set.Load()
	if cur != nil && (now.Before(cur.expires) || !ls.mu.TryLock()) {
		return cur.result()
	}
	if cur == nil {
		ls.mu.Lock()
	}
	defer ls.mu.Unlock()
	if cur = ls.set.Load(); cur != nil && now.Before(cur.expires) {
		return cur.result()
	}
	formats, err := s.readLegacyFormats(ctx)
	switch {
	case err != nil && (cur == nil || cur.err != nil):
		if ctx.Err() == nil { // a caller that gave up says nothing about the store
			ls.set.Store(&legacySet{err: err, expires: now.Add(legacyRetry)})
		}
		return nil, err
	case err != nil:
		s.log.Error("reading the legacy key formats; keeping the previous list", "err", err)
		ls.set.Store(&legacySet{formats: cur.formats, expires: now.Add(legacyRetry)})
		return cur, nil
	}
	next := &legacySet{formats: formats, expires: now.Add(ls.refresh)}
	ls.set.Store(next)
	return next, nil
}

// readLegacyFormats reads the setting; none is an empty list.
func (s *Service) readLegacyFormats(ctx context.Context) ([]LegacyFormat, error) {
	raw, err := s.store.Setting(ctx, SettingLegacyFormats)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keyward: reading the legacy key formats: %w", err)
	}
	var formats []LegacyFormat
	if err := json.Unmarshal(raw, &formats); err != nil {
		return nil, fmt.Errorf("keyward: the legacy key formats setting is not a JSON list of formats: %w", err)
	}
	return formats, nil
}

// LegacyFormats returns the legacy key formats recorded in the store.
func (s *Service) LegacyFormats(ctx context.Context) ([]LegacyFormat, error) {
	return s.readLegacyFormats(ctx)
}

// AddLegacyFormat records f in the store with an audit entry, unless the
// same key strings (same kind, prefix and separator) are recorded already
// (with a dummy, if f has one), and makes this Service accept it at once;
// other instances accept it within their refresh interval. Returns a
// *ValidationError for a bad format. Two processes adding formats at the
// same moment may lose one (the list is read, then written): run imports
// one at a time.
func (s *Service) AddLegacyFormat(ctx context.Context, f LegacyFormat) error {
	if err := f.Validate(); err != nil {
		return err
	}
	formats, err := s.readLegacyFormats(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(formats, f.same)
	if i >= 0 && (formats[i].Dummy != "" || f.Dummy == "") {
		// Recorded already (a dummy of an earlier import serves as well).
		s.legacy.set.Store(&legacySet{formats: formats, expires: s.now().Add(s.legacy.refresh)})
		return nil
	}
	if i >= 0 {
		formats[i] = f
	} else {
		formats = append(formats, f)
	}
	raw, err := json.Marshal(formats)
	if err != nil {
		return err
	}
	a := s.audit(ctx, ActionLegacyFormats, "", map[string]any{"kind": f.Kind, "prefix": f.Prefix, "separator": f.Separator})
	if err := s.store.PutSetting(ctx, SettingLegacyFormats, raw, a); err != nil {
		return fmt.Errorf("keyward: recording the legacy key format: %w", err)
	}
	s.legacy.set.Store(&legacySet{formats: formats, expires: s.now().Add(s.legacy.refresh)})
	return nil
}

// ImportLegacy records the format of keys imported from another system
// (see [Service.AddLegacyFormat]), then stores the keys in one transaction,
// skipping ids that exist (so the same import twice changes nothing):
// either every new key is stored or none is. Each stored key gets a
// key.created event, as with [Service.Import]. Check each key with
// [Service.ValidateImport] first.
//
// The maximum key lifetime of the [Policy] applies as in [Service.Import]:
// if a key has no expiry or expires beyond it, nothing is written (not the
// format either) and the error is a *ValidationError naming those keys.
func (s *Service) ImportLegacy(ctx context.Context, f LegacyFormat, keys []*Key) (ImportResult, error) {
	pol, err := s.Policy(ctx)
	if err != nil {
		return ImportResult{}, err
	}
	if err := pol.checkImport(keys, s.Now()); err != nil {
		return ImportResult{}, err
	}
	audit := make([]*AuditEntry, len(keys))
	for i, k := range keys {
		a := s.audit(ctx, ActionCreate, k.ID, map[string]any{"name": k.Name, "owner": k.Owner, "import": f.Kind})
		e, err := s.keyEvent(ctx, EventKeyCreated, k, "")
		if audit[i], err = withEvent(a, e, err); err != nil {
			return ImportResult{}, err
		}
	}
	if err := s.AddLegacyFormat(ctx, f); err != nil {
		return ImportResult{}, err
	}
	n, err := s.store.CreateBatch(ctx, keys, audit)
	if err != nil {
		return ImportResult{}, fmt.Errorf("keyward: importing keys: %w", err)
	}
	if n > 0 {
		s.notifyEvents()
	}
	return ImportResult{Created: n, Skipped: len(keys) - n}, nil
}

// DefaultPrefix returns the prefix of keys created without one (imported
// keys that had none of keyward's form get it too).
func (s *Service) DefaultPrefix() string { return s.prefix }

package keyward_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/memory"
)

func TestLegacyFormatParse(t *testing.T) {
	ks := keyward.LegacyFormat{Kind: keyward.LegacyKeyshield, Prefix: "ak_v1", Separator: "-"}
	dot := keyward.LegacyFormat{Kind: keyward.LegacyKeyshield, Prefix: "acme_live", Separator: "."}
	ss := keyward.LegacyFormat{Kind: keyward.LegacySimpleSecurity}
	secret := strings.Repeat("aZ9", 21) + "x"
	for _, c := range []struct {
		f            keyward.LegacyFormat
		key          string
		id, secret   string
		wantAccepted bool
	}{
		{ks, "ak_v1-02664fa94dc64da3-" + secret, "02664fa94dc64da3", secret, true},
		{ks, "ak_v1-CustomKeyId00001-s", "CustomKeyId00001", "s", true},
		{dot, "acme_live.02664fa94dc64da3." + secret, "02664fa94dc64da3", secret, true},
		{ks, "ak_v2-02664fa94dc64da3-" + secret, "", "", false},                   // another prefix
		{ks, "ak_v1_02664fa94dc64da3_" + secret, "", "", false},                   // another separator
		{ks, "ak_v1-02664fa94dc64da-" + secret, "", "", false},                    // id too short
		{ks, "ak_v1-02664fa94dc64da3-", "", "", false},                            // no secret
		{ks, "ak_v1-02664fa94dc64da3-a-b", "", "", false},                         // four parts
		{ks, "ak_v1-02664fa94dc64d.3-" + secret, "", "", false},                   // id not base62
		{ks, "ak_v1-02664fa94dc64da3-sec ret", "", "", false},                     // space in the secret
		{ks, "ak_v1-02664fa94dc64da3-" + strings.Repeat("a", 257), "", "", false}, // too long
		{ss, "755700d9-c33e-4e3b-9cb4-b5cf31608bb8", keyward.SimpleSecurityID("755700d9-c33e-4e3b-9cb4-b5cf31608bb8"), "755700d9-c33e-4e3b-9cb4-b5cf31608bb8", true},
		{ss, "755700d9-c33e-4e3b-9cb4-b5cf31608bb", "", "", false},
		{ss, "755700d9xc33e-4e3b-9cb4-b5cf31608bb8", "", "", false},
		{ss, "755700d9-c33e-4e3b-9cb4-b5cf31608bbg", "", "", false},
	} {
		id, secret, ok := c.f.Parse(c.key)
		if ok != c.wantAccepted || id != c.id || secret != c.secret {
			t.Errorf("%s: Parse(%q) = %q, %q, %v; want %q, %q, %v", c.f, c.key, id, secret, ok, c.id, c.secret, c.wantAccepted)
		}
	}
	id := keyward.SimpleSecurityID("755700d9-c33e-4e3b-9cb4-b5cf31608bb8")
	if !keyward.ValidID(id) || strings.Contains(id, "755700d9") {
		t.Errorf("SimpleSecurityID = %q: want 16 base62 characters that do not show the key", id)
	}
	for _, bad := range []keyward.LegacyFormat{
		{Kind: "other"}, {Kind: keyward.LegacyKeyshield, Separator: "-"}, {Kind: keyward.LegacyKeyshield, Prefix: "ak"},
		{Kind: keyward.LegacyKeyshield, Prefix: "ak-v1", Separator: "-"}, {Kind: keyward.LegacyKeyshield, Prefix: "ak", Separator: "x"},
		{Kind: keyward.LegacySimpleSecurity, Prefix: "ak"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: Validate accepted it", bad)
		}
	}
}

// legacyEnv is a Service with a keyshield format recorded and the hasher
// that verifies imported keyshield hashes.
type legacyEnv struct {
	*env
	hasher *countingHasher
	kwPep  keyhash.Pepper
	imp    *keyhash.KeyshieldImport
	format keyward.LegacyFormat
}

type countingHasher struct {
	keyward.Hasher
	verifies atomic.Int64
	last     atomic.Pointer[string]
}

func (c *countingHasher) Verify(secret, encoded string) (bool, bool) {
	c.verifies.Add(1)
	c.last.Store(&encoded)
	return c.Hasher.Verify(secret, encoded)
}

const ksPepper = "the keyshield pepper"

func newLegacyEnv(t testing.TB) *legacyEnv {
	t.Helper()
	kw := testkit.Pepper(t, "pepper one")
	hm, _ := keyhash.NewHMAC(kw)
	ks, _ := keyhash.NewKeyshield(kw)
	m, err := keyhash.NewMulti(hm, ks)
	if err != nil {
		t.Fatal(err)
	}
	e := &legacyEnv{env: &env{store: &spyStore{Store: memory.New()}, clock: testkit.NewClock(base)}, hasher: &countingHasher{Hasher: m}, kwPep: kw}
	svc, err := keyward.New(e.store, e.hasher, &keyward.Options{Limiter: ratelimit.NewLocal(), Now: e.clock.Now, UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	e.svc = svc
	if e.imp, err = keyhash.NewKeyshieldImport([]byte(ksPepper), kw); err != nil {
		t.Fatal(err)
	}
	e.format = keyward.LegacyFormat{Kind: keyward.LegacyKeyshield, Prefix: "ak_v1", Separator: "-"}
	return e
}

// keyshieldHash makes a hash the way keyshield does, with cheap parameters:
// Argon2id over secret + pepper, or bcrypt over HMAC-SHA256(pepper, secret).
func keyshieldHash(t testing.TB, alg, secret string) string {
	t.Helper()
	if alg == "bcrypt" {
		m := hmac.New(sha256.New, []byte(ksPepper))
		m.Write([]byte(secret))
		h, err := bcrypt.GenerateFromPassword(m.Sum(nil), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	salt := []byte("0123456789abcdef")
	sum := argon2.IDKey([]byte(secret+ksPepper), salt, 1, 64, 1, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(sum))
}

// importKeyshield imports one keyshield key and returns its key string.
func (e *legacyEnv) importKeyshield(t testing.TB, alg, id string, edit func(k *keyward.Key)) string {
	t.Helper()
	secret := strings.Repeat("S3cr", 16)
	return e.importKeyshieldHash(t, keyshieldHash(t, alg, secret), id, secret, edit)
}

// importKeyshieldHash imports one keyshield key of that hash (made by
// keyshield from secret) and returns its key string.
func (e *legacyEnv) importKeyshieldHash(t testing.TB, original, id, secret string, edit func(k *keyward.Key)) string {
	t.Helper()
	hash, err := e.imp.Wrap(original)
	if err != nil {
		t.Fatal(err)
	}
	if e.format.Dummy, err = e.imp.Dummy(original); err != nil {
		t.Fatal(err)
	}
	k := &keyward.Key{ID: id, Prefix: "ak_v1", Name: "imported " + id, Enabled: true, Hash: hash}
	if edit != nil {
		edit(k)
	}
	if err := e.svc.ValidateImport(k); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.ImportLegacy(context.Background(), e.format, []*keyward.Key{k})
	if err != nil || res.Created != 1 {
		t.Fatalf("ImportLegacy: %+v, %v", res, err)
	}
	return "ak_v1-" + id + "-" + secret
}

func TestVerifyImportedKeyshieldKey(t *testing.T) {
	for _, alg := range []string{"argon2", "bcrypt"} {
		t.Run(alg, func(t *testing.T) {
			e := newLegacyEnv(t)
			ctx := context.Background()
			key := e.importKeyshield(t, alg, "02664fa94dc64da3", func(k *keyward.Key) { k.Scopes = []string{"read"} })
			r := e.verify(t, keyward.VerifyRequest{Key: key, Scopes: []string{"read"}})
			if !r.Valid() || r.Key.ID != "02664fa94dc64da3" {
				t.Fatalf("imported key: %v, want VALID", r.Outcome)
			}
			// The first success upgrades the hash to keyward's current hasher.
			if err := e.svc.Close(ctx); err != nil { // waits for the rehash
				t.Fatal(err)
			}
			k, _ := e.store.Get(ctx, "02664fa94dc64da3")
			if !strings.HasPrefix(k.Hash, "$hmac-sha256$") {
				t.Fatalf("hash after the first verification: %.20s..., want keyward's HMAC", k.Hash)
			}
		})
	}
}

func TestVerifyLegacyOutcomes(t *testing.T) {
	e := newLegacyEnv(t)
	key := e.importKeyshield(t, "bcrypt", "02664fa94dc64da3", nil)
	wrongSecret := key[:len(key)-1] + "x"
	unknown := "ak_v1-abeb97e8fc204ce1-" + strings.Repeat("S3cr", 16)
	for _, c := range []struct {
		name, key string
		want      keyward.Outcome
	}{
		{"right", key, keyward.OutcomeValid},
		{"wrong secret", wrongSecret, keyward.OutcomeNotFound},
		{"unknown id", unknown, keyward.OutcomeNotFound},
		{"other prefix", strings.Replace(key, "ak_v1", "ak_v2", 1), keyward.OutcomeMalformed},
		{"simple-security not recorded", "755700d9-c33e-4e3b-9cb4-b5cf31608bb8", keyward.OutcomeMalformed},
		{"garbage", "hello", keyward.OutcomeMalformed},
	} {
		if r := e.verify(t, keyward.VerifyRequest{Key: c.key}); r.Outcome != c.want {
			t.Errorf("%s: %v, want %v", c.name, r.Outcome, c.want)
		}
	}
}

// TestLegacyUnknownIDCostsAWrongSecret checks which hashes a failed
// presentation compares: an unknown id, and a wrong secret on a key whose
// hash was upgraded, are compared with the format's dummy (a hash of the
// imported scheme), so that each costs what a wrong secret on a key that
// still holds its imported hash costs.
func TestLegacyUnknownIDCostsAWrongSecret(t *testing.T) {
	e := newLegacyEnv(t)
	ctx := context.Background()
	key := e.importKeyshield(t, "bcrypt", "02664fa94dc64da3", nil)
	slow := func(name, key string) {
		t.Helper()
		before := e.hasher.verifies.Load()
		if r := e.verify(t, keyward.VerifyRequest{Key: key}); r.Outcome != keyward.OutcomeNotFound {
			t.Fatalf("%s: %v, want NOT_FOUND", name, r.Outcome)
		}
		last := *e.hasher.last.Load()
		if !strings.HasPrefix(last, "$keyshield-bcrypt$") || e.hasher.verifies.Load() == before {
			t.Errorf("%s: last hash compared %.20s..., want a keyshield bcrypt hash", name, last)
		}
	}
	slow("unknown id", "ak_v1-abeb97e8fc204ce1-"+strings.Repeat("S3cr", 16))
	slow("wrong secret, imported hash", key[:len(key)-1]+"x")
	if r := e.verify(t, keyward.VerifyRequest{Key: key}); !r.Valid() {
		t.Fatal(r.Outcome)
	}
	e.svc.Close(ctx) // waits for the upgrade
	e.svc, _ = keyward.New(e.store, e.hasher, &keyward.Options{Now: e.clock.Now, UsageFlushInterval: -1})
	k, _ := e.store.Get(ctx, "02664fa94dc64da3")
	if strings.HasPrefix(k.Hash, "$keyshield") {
		t.Fatal("hash not upgraded")
	}
	slow("wrong secret, upgraded hash", key[:len(key)-1]+"x")
}

// TestLegacyFormatsReachOtherInstances records a format through one Service
// and checks that another on the same store accepts it once its copy is
// older than the refresh interval, not before.
func TestLegacyFormatsReachOtherInstances(t *testing.T) {
	e := newLegacyEnv(t)
	other, err := keyward.New(e.store, e.hasher, &keyward.Options{Now: e.clock.Now, UsageFlushInterval: -1, LegacyFormatsRefresh: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	ss := "755700d9-c33e-4e3b-9cb4-b5cf31608bb8"
	verify := func() keyward.Outcome {
		r, err := other.Verify(context.Background(), keyward.VerifyRequest{Key: ss})
		if err != nil {
			t.Fatal(err)
		}
		return r.Outcome
	}
	if o := verify(); o != keyward.OutcomeMalformed {
		t.Fatalf("before any import: %v, want MALFORMED", o)
	}
	hash, _ := e.hasher.Hash(ss)
	k := &keyward.Key{ID: keyward.SimpleSecurityID(ss), Prefix: "kw", Name: "forever", Enabled: true, Hash: hash}
	if err := e.svc.ValidateImport(k); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ImportLegacy(context.Background(), keyward.LegacyFormat{Kind: keyward.LegacySimpleSecurity}, []*keyward.Key{k}); err != nil {
		t.Fatal(err)
	}
	if r := e.verify(t, keyward.VerifyRequest{Key: ss}); !r.Valid() {
		t.Fatalf("the importing instance: %v, want VALID at once", r.Outcome)
	}
	e.clock.Add(9 * time.Second)
	if o := verify(); o != keyward.OutcomeMalformed {
		t.Fatalf("another instance within its refresh interval: %v, want MALFORMED (its copy is fresh)", o)
	}
	e.clock.Add(2 * time.Second)
	if o := verify(); o != keyward.OutcomeValid {
		t.Fatalf("another instance after its refresh interval: %v, want VALID", o)
	}
	formats, err := other.LegacyFormats(context.Background())
	if err != nil || len(formats) != 1 || formats[0].Kind != keyward.LegacySimpleSecurity {
		t.Fatalf("LegacyFormats = %+v, %v", formats, err)
	}
}

func TestImportedKeyRotatesToANativeKey(t *testing.T) {
	e := newLegacyEnv(t)
	ctx := context.Background()
	key := e.importKeyshield(t, "argon2", "02664fa94dc64da3", nil)
	rot, err := e.svc.Rotate(ctx, "02664fa94dc64da3", keyward.RotateParams{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := keyward.Parse(rot.Secret)
	if err != nil || tok.Prefix != "ak_v1" {
		t.Fatalf("successor %q: %v; want a native key with prefix ak_v1", rot.Secret, err)
	}
	if r := e.verify(t, keyward.VerifyRequest{Key: rot.Secret}); !r.Valid() {
		t.Errorf("successor: %v", r.Outcome)
	}
	if r := e.verify(t, keyward.VerifyRequest{Key: key}); r.Outcome == keyward.OutcomeMalformed || r.Outcome == keyward.OutcomeNotFound {
		t.Errorf("the imported key after rotation: %v, want its own state", r.Outcome)
	}
}

func TestNativeVerifyIgnoresLegacyFormats(t *testing.T) {
	e := newLegacyEnv(t)
	e.importKeyshield(t, "bcrypt", "02664fa94dc64da3", nil)
	iss, err := e.svc.Create(context.Background(), keyward.CreateParams{Name: "native"})
	if err != nil {
		t.Fatal(err)
	}
	before := e.hasher.verifies.Load()
	if r := e.verify(t, keyward.VerifyRequest{Key: iss.Secret}); !r.Valid() {
		t.Fatal(r.Outcome)
	}
	if n := e.hasher.verifies.Load() - before; n != 1 {
		t.Errorf("a native verification ran the hasher %d times, want 1", n)
	}
	if *e.hasher.last.Load() == e.format.Dummy {
		t.Error("a native verification compared the legacy dummy")
	}
}

func TestSimpleSecurityAcceptsOnlyUUIDs(t *testing.T) {
	f := keyward.LegacyFormat{Kind: keyward.LegacySimpleSecurity}
	good := "755700d9-C33E-4e3b-9cb4-b5cf31608bb8"
	if _, _, ok := f.Parse(good); !ok {
		t.Errorf("%q refused", good)
	}
	for i := 0; i < len(good); i++ {
		for _, c := range []byte{0, 0x10, ' ', '-', 'g', 'G', '/', ':', '@', '`', 0xff} {
			b := []byte(good)
			if b[i] == c || (c == '-' && (i == 8 || i == 13 || i == 18 || i == 23)) {
				continue
			}
			b[i] = c
			if _, _, ok := f.Parse(string(b)); ok {
				t.Errorf("%q accepted", b)
			}
		}
	}
}

// settingsStore counts reads of the settings and fails them while down.
type settingsStore struct {
	keyward.Store
	reads atomic.Int64
	down  atomic.Bool
}

func (s *settingsStore) Setting(ctx context.Context, name string) (json.RawMessage, error) {
	s.reads.Add(1)
	if s.down.Load() {
		return nil, fmt.Errorf("test store: %w", keyward.ErrUnavailable)
	}
	return s.Store.Setting(ctx, name)
}

// TestLegacyFormatsUnreadable: while the formats cannot be read and no copy
// is at hand, a string that is not a native key gets the store's error (a
// 503, not a MALFORMED that might be wrong), and a second such string within
// a second does not ask the store again; once a copy was read, a store that
// fails keeps it in use.
func TestLegacyFormatsUnreadable(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(base)
	store := &settingsStore{Store: memory.New()}
	store.down.Store(true)
	h := hmacHasher(t, "pepper one")
	svc := testkit.NewService(t, store, h, &keyward.Options{Now: clock.Now, LegacyFormatsRefresh: time.Minute})
	ss := "755700d9-c33e-4e3b-9cb4-b5cf31608bb8"
	for i := range 2 {
		if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: ss}); !errors.Is(err, keyward.ErrUnavailable) {
			t.Fatalf("attempt %d with the store down: %v %v, want ErrUnavailable", i+1, r.Outcome, err)
		}
	}
	if n := store.reads.Load(); n != 1 {
		t.Errorf("%d reads of the settings within a second of a failed one, want 1", n)
	}

	clock.Add(1100 * time.Millisecond)
	store.down.Store(false)
	if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: "hello"}); err != nil || r.Outcome != keyward.OutcomeMalformed {
		t.Fatalf("once the store is back: %v %v, want MALFORMED", r.Outcome, err)
	}
	hash, _ := h.Hash(ss)
	k := &keyward.Key{ID: keyward.SimpleSecurityID(ss), Prefix: "kw", Name: "forever", Enabled: true, Hash: hash}
	if err := svc.ValidateImport(k); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ImportLegacy(ctx, keyward.LegacyFormat{Kind: keyward.LegacySimpleSecurity}, []*keyward.Key{k}); err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	clock.Add(2 * time.Minute)
	if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: ss}); err != nil || !r.Valid() {
		t.Fatalf("with a copy of the formats and the settings unreadable: %v %v, want VALID", r.Outcome, err)
	}
}

// BenchmarkLegacyNotFound measures the three ways a presentation in
// keyshield's format ends NOT_FOUND, with keyshield's default Argon2id
// (64 MiB, t=3, p=4): an unknown id, a wrong secret on a key that still
// holds its imported hash, and a wrong secret on a key whose hash was
// upgraded. Each runs one keyshield Argon2 (the dummy for the first and the
// last), so the three cost the same. The cases take turns within each
// iteration, so that a change of the machine's load weighs on all three;
// each is reported as its own ns/op metric.
func BenchmarkLegacyNotFound(b *testing.B) {
	e := newLegacyEnv(b)
	secret := strings.Repeat("S3cr", 16)
	salt := []byte("0123456789abcdef")
	sum := argon2.IDKey([]byte(secret+ksPepper), salt, 3, 64*1024, 4, 32)
	b64 := base64.RawStdEncoding
	original := fmt.Sprintf("$argon2id$v=19$m=65536,t=3,p=4$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(sum))
	imported := e.importKeyshieldHash(b, original, "02664fa94dc64da3", secret, nil)
	upgraded := e.importKeyshieldHash(b, original, "abeb97e8fc204ce1", secret, nil)
	if r := e.verify(b, keyward.VerifyRequest{Key: upgraded}); !r.Valid() {
		b.Fatal(r.Outcome)
	}
	e.svc.Close(context.Background()) // waits for the upgrade
	svc, err := keyward.New(e.store, e.hasher, &keyward.Options{Now: e.clock.Now, UsageFlushInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close(context.Background())
	wrong := func(key string) string { return key[:len(key)-1] + "x" }
	cases := []struct{ name, key string }{
		{"unknown-id", "ak_v1-48b9ce2c88a24c22-" + secret},
		{"wrong-secret-imported-hash", wrong(imported)},
		{"wrong-secret-upgraded-hash", wrong(upgraded)},
	}
	spent := make([]time.Duration, len(cases))
	n := 0
	for b.Loop() {
		for i, c := range cases {
			start := time.Now()
			if r, err := svc.Verify(context.Background(), keyward.VerifyRequest{Key: c.key}); err != nil || r.Outcome != keyward.OutcomeNotFound {
				b.Fatal(c.name, r.Outcome, err)
			}
			spent[i] += time.Since(start)
		}
		n++
	}
	for i, c := range cases {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(n), c.name+"-ns/op")
	}
}

// TestLeakOfAnImportedKey: a leak report of a key in a recorded legacy
// format acts on that key, as one of a native key does; the same id with
// another secret is no match.
func TestLeakOfAnImportedKey(t *testing.T) {
	e := newLegacyEnv(t)
	ctx := context.Background()
	key := e.importKeyshield(t, "argon2", "02664fa94dc64da3", nil)
	forged := "ak_v1-02664fa94dc64da3-" + strings.Repeat("X", 64)
	if out, err := e.svc.ReportLeak(ctx, keyward.LeakReport{Token: forged, Source: "test"}); err != nil || out.Match {
		t.Fatalf("a forged string with a real id: %+v, %v; want no match", out, err)
	}
	out, err := e.svc.ReportLeak(ctx, keyward.LeakReport{Token: key, Source: "test"})
	if err != nil || !out.Match || out.Key == nil || out.Key.ID != "02664fa94dc64da3" {
		t.Fatalf("the imported key: %+v, %v; want a match", out, err)
	}
	if r := e.verify(t, keyward.VerifyRequest{Key: key}); r.Outcome != keyward.OutcomeRevoked {
		t.Errorf("after the report: %v, want REVOKED", r.Outcome)
	}
}

// TestMalformedWithTheStoreDownAfterStart: a Service reads the legacy
// formats when it starts, so that a string in no known format is MALFORMED
// with no store read, even once the store is down.
func TestMalformedWithTheStoreDownAfterStart(t *testing.T) {
	store := &settingsStore{Store: memory.New()}
	svc := testkit.NewService(t, store, hmacHasher(t, "pepper one"), nil)
	store.down.Store(true)
	before := store.reads.Load()
	tok, _ := keyward.NewToken("kw")
	key := tok.String()
	last := byte('x')
	if key[len(key)-1] == 'x' {
		last = 'y'
	}
	for _, s := range []string{"garbage", key[:len(key)-1] + string(last)} {
		if r, err := svc.Verify(context.Background(), keyward.VerifyRequest{Key: s}); err != nil || r.Outcome != keyward.OutcomeMalformed {
			t.Errorf("%q with the store down: %v %v, want MALFORMED", s, r.Outcome, err)
		}
	}
	if n := store.reads.Load() - before; n != 0 {
		t.Errorf("%d reads of the settings for strings in no format, want 0", n)
	}
}

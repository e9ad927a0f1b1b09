package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/storetest"
)

const urlEnv = "KEYWARD_TEST_POSTGRES_URL"

// serverURL returns the URL of the test server, or skips the test.
func serverURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		tb.Skip(urlEnv + " is not set: skipping the PostgreSQL suite")
	}
	return u
}

// connect opens a plain connection to raw, closed when tb ends.
func connect(tb testing.TB, raw string) *pgx.Conn {
	tb.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, raw)
	if err != nil {
		tb.Fatalf("connecting to the test server: %v", err)
	}
	tb.Cleanup(func() { c.Close(ctx) })
	return c
}

// trgmInPublic creates pg_trgm in public once. The extension is
// database-wide: created by a migration in a test's schema, it would be
// dropped with that schema, or missed by migrations in another one.
// Concurrent creations may collide; the loser's error is harmless.
func trgmInPublic(tb testing.TB, c *pgx.Conn) {
	tb.Helper()
	if _, err := c.Exec(context.Background(), `CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public`); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" && pe.Code != "42710" {
			tb.Fatalf("creating pg_trgm: %v", err)
		}
	}
}

// freshSchema creates an empty schema, dropped when tb ends, and returns a
// URL whose search_path starts with it (then public, where pg_trgm is).
func freshSchema(tb testing.TB) (schemaURL, schema string) {
	tb.Helper()
	raw := serverURL(tb)
	ctx := context.Background()
	c := connect(tb, raw)
	trgmInPublic(tb, c)
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema = "t_" + hex.EncodeToString(b[:])
	if _, err := c.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c := connect(tb, raw)
		if _, err := c.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return withParam(tb, raw, "search_path", schema+",public"), schema
}

// withParam returns raw with the query parameter k set to v.
func withParam(tb testing.TB, raw, k, v string) string {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

// open opens a store on raw, closed when tb ends.
func open(tb testing.TB, raw string, opts *postgres.Options) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), raw, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newStore returns a migrated store on a fresh schema.
func newStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	u, _ := freshSchema(tb)
	s := open(tb, u, nil)
	if err := s.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	serverURL(t)
	storetest.Run(t, func(t *testing.T) keyward.Store { return newStore(t) })
}

func TestSharedConformance(t *testing.T) {
	serverURL(t)
	storetest.RunShared(t, func(t *testing.T) (keyward.Store, keyward.Store) {
		u, _ := freshSchema(t)
		a := open(t, u, &postgres.Options{Migrate: true})
		return a, open(t, u, nil)
	})
}

// migrations returns the rows of keyward_schema_migrations as text.
func migrations(t *testing.T, raw string) string {
	t.Helper()
	var out string
	err := connect(t, raw).QueryRow(context.Background(),
		`SELECT string_agg(version || '@' || applied_at, ',' ORDER BY version) FROM keyward_schema_migrations`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// objects lists the relations of schema with their row estimates.
func objects(t *testing.T, raw, schema string) string {
	t.Helper()
	var out string
	err := connect(t, raw).QueryRow(context.Background(),
		`SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`, schema).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func plainKey(t testing.TB, name string) *keyward.Key {
	t.Helper()
	id, err := keyward.NewID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &keyward.Key{
		ID: id, Prefix: "kw", Name: name, Scopes: []string{}, Metadata: json.RawMessage(`{}`),
		AllowedCIDRs: []string{}, Enabled: true, CreatedAt: now, UpdatedAt: now, Hash: "h",
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	u, schema := freshSchema(t)
	s := open(t, u, &postgres.Options{Migrate: true})
	latest, err := s.SchemaVersion(ctx)
	if err != nil || latest < 1 {
		t.Fatalf("SchemaVersion after migrating = %d, %v", latest, err)
	}
	if _, err := connect(t, u).Exec(ctx, `INSERT INTO keyward_schema_migrations (version, applied_at) VALUES (9999, now())`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); !errors.Is(err, keyward.ErrSchemaTooNew) {
		t.Errorf("Migrate on a newer schema: err = %v, want ErrSchemaTooNew", err)
	}
	s.Close()

	rows, objs := migrations(t, u), objects(t, u, schema)
	for _, migrate := range []bool{false, true} {
		s, err := postgres.Open(ctx, u, &postgres.Options{Migrate: migrate})
		if err == nil {
			s.Close()
			t.Fatalf("Open(Migrate: %v) on a newer schema succeeded", migrate)
		}
		if !errors.Is(err, keyward.ErrSchemaTooNew) {
			t.Errorf("Open(Migrate: %v): err = %v, want ErrSchemaTooNew", migrate, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "9999") || !strings.Contains(msg, strconv.Itoa(latest)) || strings.Contains(msg, "\n") {
			t.Errorf("error %q should name versions 9999 and %d on one line", msg, latest)
		}
	}
	if got := migrations(t, u); got != rows {
		t.Errorf("refused Open changed keyward_schema_migrations:\n got %s\nwant %s", got, rows)
	}
	if got := objects(t, u, schema); got != objs {
		t.Errorf("refused Open changed the schema:\n got %s\nwant %s", got, objs)
	}
}

func TestOpenWrongScheme(t *testing.T) {
	cases := map[string]string{
		"mysql://root:hunter2@127.0.0.1/db":      `postgres: unsupported URL scheme "mysql" (want postgres:// or postgresql://)`,
		"http://postgres@localhost/db":           `postgres: unsupported URL scheme "http" (want postgres:// or postgresql://)`,
		"host=localhost user=x password=hunter2": "postgres: invalid URL: no scheme (want postgres://user@host:port/database)",
		"postgres://u:hunter2@host:port/db":      `postgres: invalid URL: invalid port ":port" after host`,
		"postgres://u:hunter2%zz@host/db":        "postgres: invalid URL: malformed %-escape",
	}
	for raw, want := range cases {
		_, err := postgres.Open(context.Background(), raw, nil)
		if err == nil || err.Error() != want {
			t.Errorf("Open(%q) err = %v\nwant %s", raw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	// A bad parameter is found by pgx; its message is kept, the URL is not.
	_, err := postgres.Open(context.Background(), "postgres://u:hunter2@localhost/db?sslmode=sometimes", nil)
	if err == nil || !strings.HasPrefix(err.Error(), "postgres: invalid URL: ") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open with a bad sslmode: err = %v", err)
	}
}

// closedPort returns a TCP port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestOpenUnreachable(t *testing.T) {
	port := closedPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := postgres.Open(ctx, fmt.Sprintf("postgres://bob:hunter2@127.0.0.1:%d/keys", port), nil)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open on a closed port took %v", d)
	}
	want := fmt.Sprintf("postgres: cannot connect to 127.0.0.1:%d: connection refused", port)
	if err == nil || err.Error() != want {
		t.Fatalf("Open on a closed port: err = %v\nwant %s", err, want)
	}
	if !errors.Is(err, keyward.ErrUnavailable) {
		t.Errorf("err = %v does not wrap ErrUnavailable", err)
	}
}

func TestOpenTimeout(t *testing.T) {
	// A server that accepts connections and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = postgres.Open(ctx, "postgres://bob:hunter2@"+l.Addr().String()+"/keys?sslmode=disable", nil)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Open on a mute server took %v", d)
	}
	want := "postgres: cannot connect to " + l.Addr().String() + ": timed out"
	if err == nil || err.Error() != want || !errors.Is(err, keyward.ErrUnavailable) {
		t.Fatalf("Open on a mute server: err = %v\nwant %s (ErrUnavailable)", err, want)
	}
}

// proxy forwards TCP connections to a server until it is stopped.
type proxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l}
	t.Cleanup(p.stop)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

// stop closes the listener and every forwarded connection.
func (p *proxy) stop() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestServerGoneIsUnavailable(t *testing.T) {
	ctx := context.Background()
	u, _ := freshSchema(t)
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, pu.Host)
	pu.Host = p.l.Addr().String()
	s := open(t, pu.String(), &postgres.Options{Migrate: true})
	k := plainKey(t, "reachable")
	if err := s.Create(ctx, k, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	p.stop()
	for i := range 3 { // a broken pooled connection, then failed reconnections
		if _, err := s.Get(ctx, k.ID); !errors.Is(err, keyward.ErrUnavailable) {
			t.Errorf("Get #%d with the server gone: err = %v, want ErrUnavailable", i+1, err)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
	if _, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: k.ID, Cost: 1, Now: time.Now()}); !errors.Is(err, keyward.ErrUnavailable) {
		t.Errorf("SpendCredits with the server gone: err = %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, keyward.ErrUnavailable) {
		t.Errorf("Ping with the server gone: err = %v, want ErrUnavailable", err)
	}
}

func TestClosed(t *testing.T) {
	s := newStore(t)
	s.Close()
	if _, err := s.Get(context.Background(), plainKey(t, "x").ID); !errors.Is(err, keyward.ErrClosed) {
		t.Errorf("Get after Close: err = %v, want ErrClosed", err)
	}
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	ctx := context.Background()
	u, schema := freshSchema(t)
	s := open(t, u, nil)
	if v, err := s.SchemaVersion(ctx); v != 0 || err != nil {
		t.Fatalf("SchemaVersion of an empty schema = %d, %v; want 0", v, err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	latest, err := s.SchemaVersion(ctx)
	if err != nil || latest < 1 {
		t.Fatalf("SchemaVersion after Migrate = %d, %v", latest, err)
	}
	rows, objs := migrations(t, u), objects(t, u, schema)
	for range 2 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s2 := open(t, u, &postgres.Options{Migrate: true})
	if v, err := s2.SchemaVersion(ctx); v != latest || err != nil {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, latest)
	}
	if got := migrations(t, u); got != rows {
		t.Errorf("migrating again changed keyward_schema_migrations:\n got %s\nwant %s", got, rows)
	}
	if got := objects(t, u, schema); got != objs {
		t.Errorf("migrating again changed the schema:\n got %s\nwant %s", got, objs)
	}
}

func TestConcurrentMigrators(t *testing.T) {
	ctx := context.Background()
	u, _ := freshSchema(t)
	a, b := open(t, u, nil), open(t, u, nil)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, 2)
	for i, s := range []*postgres.Store{a, b} {
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(ctx)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	va, _ := a.SchemaVersion(ctx)
	if n, want := strings.Count(migrations(t, u), ",")+1, len(a.Versions()); n != want || va != a.LatestVersion() {
		t.Errorf("%d migration rows for schema version %d; want one per migration (%d), version %d", n, va, want, a.LatestVersion())
	}
	k := plainKey(t, "after concurrent migrations")
	if err := a.Create(ctx, k, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkGet reads keys by id among 1000, on the loopback.
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	s := newStore(b)
	ids := make([]string, 1000)
	for i := range ids {
		k := plainKey(b, fmt.Sprint("bench ", i))
		k.Scopes = []string{"read", "write"}
		k.Metadata = json.RawMessage(`{"plan":"pro"}`)
		k.RateLimit = &keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Minute)}
		if err := s.Create(ctx, k, nil); err != nil {
			b.Fatal(err)
		}
		ids[i] = k.ID
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Get(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpendCredits spends one credit at a time from one key.
func BenchmarkSpendCredits(b *testing.B) {
	ctx := context.Background()
	s := newStore(b)
	k := plainKey(b, "credits")
	k.Remaining = keyward.Ptr[int64](1 << 60)
	k.Refill = &keyward.Refill{Interval: keyward.RefillMonthly, Amount: 1 << 60}
	k.RefilledAt = keyward.Ptr(time.Now().UTC().AddDate(0, 0, -40))
	if err := s.Create(ctx, k, nil); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if bal, err := s.SpendCredits(ctx, keyward.CreditSpend{KeyID: k.ID, Cost: 1, Now: now}); err != nil || !bal.Spent {
			b.Fatal(bal, err)
		}
	}
}

package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testsqlite"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/sqlite"
)

func service(tb testing.TB, s keyward.Store) *keyward.Service {
	tb.Helper()
	p, _ := keyhash.NewPepper([]byte("sqlite test pepper, thirty-two bytes long"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(s, h, &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close(context.Background()) })
	return svc
}

func TestOpenRefusesNewerSchemaAndLeavesItAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	s := open(t, path)
	s.Close()
	testsqlite.Exec(t, path, `INSERT INTO keyward_schema_migrations (version, applied_at) VALUES (999, 0); PRAGMA wal_checkpoint(TRUNCATE)`)
	before, _ := os.ReadFile(path)
	for _, migrate := range []bool{false, true} {
		_, err := sqlite.Open(context.Background(), path, &sqlite.Options{Migrate: migrate})
		if !errors.Is(err, keyward.ErrSchemaTooNew) {
			t.Fatalf("Open(migrate=%v) err = %v, want ErrSchemaTooNew", migrate, err)
		}
		if !strings.Contains(err.Error(), "999") || !strings.Contains(err.Error(), fmt.Sprint(sqlite.LatestVersion())) {
			t.Errorf("error does not name both versions: %v", err)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("the newer database file was modified")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "text.db")
	os.WriteFile(notDB, bytes.Repeat([]byte("not a database "), 300), 0o644)
	cases := []struct {
		name, path string
		opts       *sqlite.Options
		want       string
	}{
		{"missing with MustExist", filepath.Join(dir, "none.db"), &sqlite.Options{MustExist: true}, "does not exist"},
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "k.db"), nil, "directory"},
		{"a directory", dir, nil, "is a directory"},
		{"not a database", notDB, &sqlite.Options{Migrate: true}, "not a SQLite database"},
		{"query characters", filepath.Join(dir, "k.db?mode=ro"), nil, "may not contain"},
		{"empty", "", nil, "no database path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.Open(context.Background(), tc.path, tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("err = %q, want one line containing %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); !errors.Is(err, os.ErrNotExist) {
		t.Error("MustExist created the file")
	}
}

// mountTmpfs mounts a tmpfs of the given size on a new directory, or skips
// the test (saying why) when this process may not mount.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): this test needs root with CAP_SYS_ADMIN; CI runs it as root", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

func TestReadOnlyDatabase(t *testing.T) {
	var path string
	if os.Geteuid() != 0 {
		path = filepath.Join(t.TempDir(), "k.db")
		open(t, path).Close()
		os.Chmod(path, 0o444)
		os.Chmod(filepath.Dir(path), 0o555)
		t.Cleanup(func() { os.Chmod(filepath.Dir(path), 0o755) })
	} else {
		// Root ignores file permissions: use a file system mounted read-only.
		dir := mountTmpfs(t, "4m")
		path = filepath.Join(dir, "k.db")
		open(t, path).Close()
		if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			t.Skipf("cannot remount read-only: %v", err)
		}
	}
	s, err := sqlite.Open(context.Background(), path, &sqlite.Options{Migrate: true})
	if err == nil {
		defer s.Close()
		_, err = service(t, s).Create(context.Background(), keyward.CreateParams{Name: "x"})
	}
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("err = %v, want one naming the read-only database", err)
	}
}

func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "512k")
	path := filepath.Join(dir, "k.db")
	s := open(t, path)
	svc := service(t, s)
	ctx := context.Background()
	var created []keyward.Issued
	var err error
	meta := []byte(`{"pad":"` + strings.Repeat("x", 4000) + `"}`)
	for range 10000 {
		var iss keyward.Issued
		iss, err = svc.Create(ctx, keyward.CreateParams{Name: "filler", Metadata: meta})
		if err != nil {
			break
		}
		created = append(created, iss)
	}
	if err == nil {
		t.Fatal("512 KiB never filled up")
	}
	if !strings.Contains(err.Error(), "disk full") || !errors.Is(err, keyward.ErrUnavailable) {
		t.Errorf("err = %v, want a 'disk full' error wrapping ErrUnavailable", err)
	}
	// Nothing half-written: every key whose Create returned is there, the
	// failed one is not, and the file is sound.
	page, lerr := svc.List(ctx, keyward.ListParams{Limit: 1000})
	if lerr != nil {
		t.Fatal(lerr)
	}
	if len(page.Items) != len(created) {
		t.Errorf("%d keys stored, %d creates returned", len(page.Items), len(created))
	}
	for _, iss := range created {
		if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: iss.Secret}); err != nil || !r.Valid() {
			t.Fatalf("key %s after disk full: %v %v", iss.Key.ID, r.Outcome, err)
		}
	}
	s.Close()
	integrityCheck(t, path)
}

func integrityCheck(tb testing.TB, path string) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		tb.Fatalf("integrity_check = %q, %v", res, err)
	}
}

// TestSpendCreditsAcrossConnections spends one key's credits through two
// stores opened on the same file: separate connection pools, as two
// processes would have.
func TestSpendCreditsAcrossConnections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	a, b := open(t, path), open(t, path)
	iss, err := service(t, a).Create(context.Background(), keyward.CreateParams{Name: "shared", Remaining: keyward.Ptr[int64](100)})
	if err != nil {
		t.Fatal(err)
	}
	var spent atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range 25 {
				bal, err := s.SpendCredits(context.Background(), keyward.CreditSpend{KeyID: iss.Key.ID, Cost: 1, Now: iss.Key.CreatedAt})
				if err != nil {
					t.Error(err)
					return
				}
				if bal.Spent {
					spent.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if spent.Load() != 100 {
		t.Errorf("200 attempts on 100 credits through two connections spent %d", spent.Load())
	}
	k, _ := b.Get(context.Background(), iss.Key.ID)
	if *k.Remaining != 0 {
		t.Errorf("remaining = %d, want 0", *k.Remaining)
	}
}

func TestConcurrentMigrators(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := sqlite.Open(context.Background(), path, &sqlite.Options{Migrate: true})
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	s := open(t, path)
	if v, err := s.SchemaVersion(context.Background()); err != nil || v != sqlite.LatestVersion() {
		t.Errorf("schema version %d, %v", v, err)
	}
}

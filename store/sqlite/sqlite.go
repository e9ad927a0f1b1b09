// Package sqlite is a [keyward.Store] in a SQLite file: keyward's default,
// with nothing to install. It uses modernc.org/sqlite (pure Go, no cgo, so
// `go install` gives a static binary).
//
// The database runs in WAL mode with synchronous=NORMAL: a committed write
// survives a crash of the process (SIGKILL included); only a power loss or an
// operating-system crash can lose the last transactions, never the file's
// integrity. Writes go through one connection (SQLite has one writer at a
// time) that begins transactions IMMEDIATE, so concurrent processes (keyward
// serve and the CLI) queue on the busy timeout instead of failing; reads use
// a pool of read-only connections.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/spendgroup"
	"github.com/keyward/keyward/internal/useddays"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DefaultReaders is the size of the read-only connection pool when
// Options.Readers is 0: 4 per CPU (GOMAXPROCS), at least 16 and at most 64.
// Reads are bounded by waiting on the disk more than by the CPU once the
// file is not all in memory (a database larger than the memory, or one whose
// pages the system reclaimed while idle): each cache miss then waits on
// several page reads, and as many misses are read at once as there are
// connections. With the 1,000,000-key load database dropped from memory, 16
// connections instead of 4 served 2.4 to 13 times the valid requests in the
// first seconds (docs/benchmarks.md, "A database not in memory"). The pool
// opens connections only as concurrent reads need them.
func DefaultReaders() int {
	return min(max(16, 4*runtime.GOMAXPROCS(0)), 64)
}

// writerPragmas size the writer connection for the usage flushes, which at
// scale dirty thousands of pages a second (a minute's counts moving into the
// key-ordered history, the current minute's rows rewritten each flush):
//
//   - a page cache of up to 64 MiB (SQLite's default is 2 MiB), so that a
//     flush's dirty pages stay in memory until its commit instead of being
//     spilled to the WAL early, and the history's inner pages stay cached;
//   - a checkpoint every 8,000 WAL pages (32 MiB) instead of every 1,000, so
//     that a page that several flushes rewrite (usage_recent's) is copied
//     into the database file once per checkpoint rather than after nearly
//     every flush.
//
// Together they made a flush of 12,000 keys on the 1,000,000-key load
// database about a tenth cheaper; either alone did less (docs/benchmarks.md,
// "The writer's page cache and checkpoints"). The cache is memory the writer
// uses only as pages are touched; the WAL file grows to about 32 MiB between
// checkpoints.
const writerPragmas = "&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint(8000)"

// Options tunes [Open]. The zero value (or nil) gives the defaults.
type Options struct {
	// Migrate brings the schema up to date when opening.
	Migrate bool
	// MustExist makes Open fail if the file does not exist yet, instead of
	// creating it (the CLI uses it, so a typo in a path creates nothing).
	MustExist bool
	// Readers is the size of the read-only connection pool; 0 means
	// DefaultReaders.
	Readers int
	// BusyTimeout is how long a write waits for another process's write;
	// 0 means 5s.
	BusyTimeout time.Duration
}

// Store is a keyward.Store in a SQLite file. It is safe for concurrent use
// and by several processes at once.
type Store struct {
	path   string
	writer *sql.DB
	reader *sql.DB

	prepMu     sync.Mutex
	prepared   atomic.Bool
	getStmt    *sql.Stmt
	reloadStmt *sql.Stmt   // ReloadKey's
	credit     creditStmts // see credits.go
	insertStmt *sql.Stmt   // on the writer, used inside transactions
	updateStmt *sql.Stmt
	auditStmt  *sql.Stmt

	evMu    sync.Mutex
	evStmts atomic.Pointer[eventStmts] // see events.go

	spends spendgroup.Queue // see spends.go

	usedDays useddays.Days // see RecordUsage
	rolledUp atomic.Int64  // the minute before which usage_recent was last moved into usage
}

var _ keyward.Store = (*Store)(nil)

// Open opens (or creates) the database at path. It refuses a database
// migrated by a newer keyward (the error wraps keyward.ErrSchemaTooNew) and,
// with opts.Migrate, migrates an older one. A new database file is created
// 0600, and SQLite gives its -wal and -shm files the same mode: they hold
// hashes and usage.
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	if path == "" {
		return nil, errors.New("sqlite: no database path given")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: database path %q may not contain '?' or '#'", path)
	}
	switch fi, err := os.Stat(path); {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("sqlite: %s is a directory, not a database file", path)
	case errors.Is(err, fs.ErrNotExist) && opts.MustExist:
		return nil, fmt.Errorf("sqlite: database %s does not exist (create it with keyward migrate)", path)
	case errors.Is(err, fs.ErrNotExist):
		if _, derr := os.Stat(filepath.Dir(path)); derr != nil {
			return nil, fmt.Errorf("sqlite: cannot create %s: directory %s does not exist", path, filepath.Dir(path))
		}
		if !writable(filepath.Dir(path)) {
			return nil, fmt.Errorf("sqlite: cannot create %s: directory %s is read-only", path, filepath.Dir(path))
		}
		if err := createPrivate(path); err != nil {
			return nil, err
		}
	case err == nil && (!writable(path) || !writable(filepath.Dir(path))):
		// WAL mode needs the file and its directory (for the -wal and -shm files).
		return nil, fmt.Errorf("sqlite: %s is read-only (keyward needs to write the file and its directory): %w", path, keyward.ErrUnavailable)
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	readers := opts.Readers
	if readers <= 0 {
		readers = DefaultReaders()
	}
	dsn := func(extra string) string {
		return "file:" + path + "?_pragma=busy_timeout(" + strconv.FormatInt(busy.Milliseconds(), 10) + ")" +
			"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)" + extra
	}
	s := &Store{path: path}
	s.spends.Run = s.runSpends
	var err error
	if s.writer, err = sql.Open("sqlite", dsn("&_txlock=immediate"+writerPragmas)); err != nil {
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetConnMaxIdleTime(0)
	// WAL is a property of the file: set it once, on the writer, before the readers.
	if err := s.setWAL(ctx, busy); err != nil {
		s.writer.Close()
		return nil, s.wrap(ctx, "opening", err)
	}
	if s.reader, err = sql.Open("sqlite", dsn("&_pragma=query_only(1)")); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	s.reader.SetMaxOpenConns(readers)
	s.reader.SetMaxIdleConns(readers)
	if err := s.checkVersion(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if opts.Migrate {
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// setWAL puts the database in WAL mode. Switching a new file's journal
// mode while other connections open it can fail at once with SQLITE_BUSY,
// without SQLite's busy handler (which would wait), so setWAL retries for
// up to busy, as that handler would.
func (s *Store) setWAL(ctx context.Context, busy time.Duration) error {
	deadline := time.Now().Add(busy)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		_, err := s.writer.ExecContext(ctx, "PRAGMA journal_mode=WAL")
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != codeBusy || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// createPrivate creates an empty database file readable by its owner only:
// it holds hashes and usage. SQLite gives the -wal and -shm files the
// database file's mode. A file another process created meanwhile is kept.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: creating %s: %w", path, err)
	}
	return f.Close()
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() []migration {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		panic(err) // embedded at build time
	}
	var out []migration
	for _, e := range entries {
		n, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(n)
		if !ok || err != nil {
			panic("sqlite: bad migration file name " + e.Name())
		}
		b, _ := migrationFiles.ReadFile("migrations/" + e.Name())
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out
}

// LatestVersion is the newest schema version this binary knows.
func LatestVersion() int {
	m := migrations()
	return m[len(m)-1].version
}

const versionTable = `CREATE TABLE IF NOT EXISTS keyward_schema_migrations (
	version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion returns the applied version, 0 for an empty database.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'keyward_schema_migrations'`).Scan(&exists); err != nil {
		return 0, err
	}
	if exists == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT max(version) FROM keyward_schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

// SchemaVersion returns the schema version of the database, 0 if empty.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, s.reader)
	if err != nil {
		return 0, s.wrap(ctx, "reading the schema version", err)
	}
	return v, nil
}

func (s *Store) checkVersion(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if latest := LatestVersion(); v > latest {
		return fmt.Errorf("sqlite: %s has schema version %d, this keyward knows up to %d; upgrade keyward: %w", s.path, v, latest, keyward.ErrSchemaTooNew)
	}
	return nil
}

// Migrate applies the migrations the database lacks, each in its own
// transaction together with its version row. Running it again is a no-op;
// concurrent migrators (other processes) wait for each other.
func (s *Store) Migrate(ctx context.Context) error {
	for _, m := range migrations() {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration unless the database already has it.
func (s *Store) apply(ctx context.Context, m migration) error {
	tx, err := s.writer.BeginTx(ctx, nil) // IMMEDIATE: other migrators wait here
	if err != nil {
		return s.wrap(ctx, "migrating", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, versionTable); err != nil {
		return s.wrap(ctx, "migrating", err)
	}
	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return s.wrap(ctx, "migrating", err)
	}
	if latest := LatestVersion(); v > latest {
		return fmt.Errorf("sqlite: %s has schema version %d, this keyward knows up to %d; upgrade keyward: %w", s.path, v, latest, keyward.ErrSchemaTooNew)
	}
	// Each migration runs unless its own version is recorded: versions may
	// have gaps (a number reserved by a change not merged yet), and one
	// merged later still runs.
	var applied int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM keyward_schema_migrations WHERE version = ?`, m.version).Scan(&applied); err != nil {
		return s.wrap(ctx, "migrating", err)
	}
	if applied > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return s.wrap(ctx, "migration "+m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO keyward_schema_migrations (version, applied_at) VALUES (?, ?)`, m.version, time.Now().UnixMilli()); err != nil {
		return s.wrap(ctx, "migration "+m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(ctx, "migration "+m.name, err)
	}
	return nil
}

// prepare prepares the hot-path statements, once the schema exists (a
// failure is retried on the next call, e.g. after Migrate).
func (s *Store) prepare(ctx context.Context) error {
	if s.prepared.Load() {
		return nil
	}
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	if s.prepared.Load() {
		return nil
	}
	all := s.stmts()
	for i, q := range []struct {
		db  *sql.DB
		sql string
	}{
		{s.reader, `SELECT ` + keySelect + `, keys.last_used_at FROM keys WHERE id = ?`},
		{s.reader, `SELECT ` + reloadSelect + `, keys.last_used_at FROM keys WHERE id = ?`},
		{s.writer, spendKeySQL},
		{s.writer, spendOwnerSQL},
		{s.writer, keyCreditsSQL},
		{s.writer, ownerCreditsSQL},
		{s.writer, insertKeySQL},
		{s.writer, updateKeySQL},
		{s.writer, insertAuditSQL},
	} {
		st, err := q.db.PrepareContext(ctx, q.sql)
		if err != nil {
			for _, p := range all[:i] {
				(*p).Close()
				*p = nil
			}
			return s.wrap(ctx, "preparing", err)
		}
		*all[i] = st
	}
	s.prepared.Store(true)
	return nil
}

// stmts returns the fields of the store's prepared statements, in the order
// prepare prepares them.
func (s *Store) stmts() []**sql.Stmt {
	return []**sql.Stmt{&s.getStmt, &s.reloadStmt, &s.credit.keySpend, &s.credit.ownerSpend, &s.credit.keyRead,
		&s.credit.ownerRead, &s.insertStmt, &s.updateStmt, &s.auditStmt}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.reader.PingContext(ctx); err != nil {
		return s.wrap(ctx, "ping", err)
	}
	return nil
}

// Close closes both connection pools.
func (s *Store) Close() error {
	var errs []error
	var stmts []*sql.Stmt
	for _, p := range s.stmts() {
		stmts = append(stmts, *p)
	}
	if ev := s.evStmts.Load(); ev != nil {
		stmts = append(stmts, ev.all()...)
	}
	for _, st := range stmts {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	return errors.Join(errs...)
}

// SQLite result codes this package names in its errors.
const (
	codeBusy       = 5
	codeReadOnly   = 8
	codeIOErr      = 10
	codeCorrupt    = 11
	codeFull       = 13
	codeCantOpen   = 14
	codeNotADB     = 26
	codePrimaryKey = 1555
	codeUnique     = 2067
)

// wrap turns a driver error into one clear message naming the problem and
// the file, wrapping the keyward sentinel that fits.
func (s *Store) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		// The caller's context ended while the operation ran. The driver then
		// reports an interrupted statement, or database/sql a transaction
		// already rolled back; the cause is the context's (its deadline, or
		// the cancel of a client that went away), and callers must see it.
		if cause := context.Cause(ctx); !errors.Is(err, cause) {
			return fmt.Errorf("sqlite: %s: %w (%v)", op, cause, err)
		}
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone) || strings.Contains(err.Error(), "database is closed") {
		return fmt.Errorf("sqlite: %s: %w", op, keyward.ErrClosed)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("sqlite: %s %s: %w", op, s.path, err)
	}
	code := se.Code()
	switch {
	case code == codePrimaryKey || code == codeUnique:
		return fmt.Errorf("sqlite: %s: %w", op, keyward.ErrConflict)
	case code&0xff == codeFull:
		return fmt.Errorf("sqlite: %s: disk full writing %s: %w", op, s.path, keyward.ErrUnavailable)
	case code&0xff == codeReadOnly:
		return fmt.Errorf("sqlite: %s: %s is read-only (check the permissions of the file and its directory): %w", op, s.path, keyward.ErrUnavailable)
	case code&0xff == codeCantOpen:
		return fmt.Errorf("sqlite: %s: cannot open %s (missing directory or no permission): %w", op, s.path, keyward.ErrUnavailable)
	case code&0xff == codeNotADB:
		return fmt.Errorf("sqlite: %s: %s is not a SQLite database", op, s.path)
	case code&0xff == codeCorrupt:
		return fmt.Errorf("sqlite: %s: %s is corrupt: %w", op, s.path, keyward.ErrUnavailable)
	case code&0xff == codeBusy:
		return fmt.Errorf("sqlite: %s: %s is locked by another writer for too long: %w", op, s.path, keyward.ErrUnavailable)
	case code&0xff == codeIOErr:
		return fmt.Errorf("sqlite: %s: I/O error on %s: %s: %w", op, s.path, se.Error(), keyward.ErrUnavailable)
	}
	return fmt.Errorf("sqlite: %s: %s", op, se.Error())
}

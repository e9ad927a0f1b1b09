package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
)

// migrationFiles holds the schema migrations, NNNN_name.sql, applied in
// version order. A released migration is never edited: a change is a new
// file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockID is the key of the transaction-level advisory lock that
// serialises migrators of one database ("keyward" in ASCII).
const migrationLockID int64 = 0x6b657977617264

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS keyward_schema_migrations (
	version    int         PRIMARY KEY,
	applied_at timestamptz NOT NULL
)`

const selectSchemaVersion = `SELECT coalesce(max(version), 0) FROM keyward_schema_migrations`

// migration is one embedded schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations, in version order, checking
// that no two share a version. Versions may have gaps (a number reserved by
// a change not merged yet): each migration is applied unless its own
// version is recorded, so one merged later still runs.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: reading migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("postgres: reading migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("postgres: migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// latest returns the schema version this binary migrates to.
func (s *Store) latest() int {
	if len(s.migrations) == 0 {
		return 0
	}
	return s.migrations[len(s.migrations)-1].version
}

// SchemaVersion returns the version of the database's schema: the highest
// migration applied, 0 for an empty database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, selectSchemaVersion).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table: never migrated
		return 0, nil
	}
	if err != nil {
		return 0, s.fail(ctx, err, "reading the schema version", "")
	}
	return v, nil
}

// checkVersion refuses a schema newer than this binary knows.
func (s *Store) checkVersion(v int) error {
	if v <= s.latest() {
		return nil
	}
	return &storeError{
		msg: fmt.Sprintf("postgres: the database schema is at version %d but this binary knows versions up to %d: "+
			"it was migrated by a newer keyward; upgrade this one", v, s.latest()),
		errs: []error{keyward.ErrSchemaTooNew},
	}
}

// Migrate applies the migrations the database lacks, each in its own
// transaction together with its row in keyward_schema_migrations. Migrators
// of one database, in any process, take turns on an advisory lock, so
// concurrent calls are safe; when the schema is up to date Migrate writes
// nothing. A schema newer than this binary is refused with an error wrapping
// keyward.ErrSchemaTooNew.
func (s *Store) Migrate(ctx context.Context) error {
	cur, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if err := s.checkVersion(cur); err != nil {
		return err
	}
	applied, err := s.appliedVersions(ctx, cur)
	if err != nil {
		return err
	}
	for _, m := range s.migrations {
		if applied[m.version] {
			continue
		}
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// appliedVersions returns the versions recorded in the database (none when
// its schema version cur is 0: the table may not exist).
func (s *Store) appliedVersions(ctx context.Context, cur int) (map[int]bool, error) {
	applied := map[int]bool{}
	if cur == 0 {
		return applied, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT version FROM keyward_schema_migrations`)
	if err != nil {
		return nil, s.fail(ctx, err, "reading the applied migrations", "")
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, s.fail(ctx, err, "reading the applied migrations", "")
	}
	for _, v := range vs {
		applied[v] = true
	}
	return applied, nil
}

// apply runs m unless another migrator got there first.
func (s *Store) apply(ctx context.Context, m migration) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
			return err
		}
		var cur int
		if err := tx.QueryRow(ctx, selectSchemaVersion).Scan(&cur); err != nil {
			return err
		}
		if err := s.checkVersion(cur); err != nil {
			return err
		}
		var applied bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keyward_schema_migrations WHERE version = $1)`, m.version).Scan(&applied); err != nil {
			return err
		}
		if applied {
			return nil // applied before, or while we waited for the lock
		}
		// Without arguments, Exec uses the simple protocol, which runs
		// several statements.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO keyward_schema_migrations (version, applied_at) VALUES ($1, now())`, m.version)
		return err
	})
	if err == nil || errors.Is(err, keyward.ErrSchemaTooNew) {
		return err
	}
	return s.fail(ctx, err, "migration", m.name)
}

// LatestVersion returns the newest schema version this binary knows.
func (s *Store) LatestVersion() int { return s.latest() }

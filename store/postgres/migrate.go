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

// loadMigrations reads the embedded migrations, checking that their versions
// run 1, 2, 3... without a gap.
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
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("postgres: migration %s: version %d expected", m.name, i+1)
		}
	}
	return ms, nil
}

// latest returns the schema version this binary migrates to.
func (s *Store) latest() int { return len(s.migrations) }

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
		return 0, s.fail(err, "reading the schema version", "")
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
	for _, m := range s.migrations[cur:] {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
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
		if cur >= m.version {
			return nil // applied while we waited for the lock
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
	return s.fail(err, "migration", m.name)
}

// LatestVersion returns the newest schema version this binary knows.
func (s *Store) LatestVersion() int { return s.latest() }

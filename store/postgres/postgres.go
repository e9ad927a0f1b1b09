// Package postgres is a [keyward.Store] on PostgreSQL, through a pgx
// connection pool. Several keyward processes can share one database: every
// write is a transaction or a single conditional statement, so they never
// lose each other's updates.
//
// The schema is versioned: [Open] refuses a database migrated by a newer
// keyward (ErrSchemaTooNew) and, with [Options].Migrate, brings an older one
// up to date. [Store.Migrate] does the same on demand and is safe to run from
// several processes at once.
//
// A usage flush writes one count row per key, minute and outcome, which
// also carries the key's last use in that minute, and writes a key's own
// row only at its first use of each day (see [Store.RecordUsage]): at a
// million keys in use, the wide key rows are not rewritten every second.
//
// Failures to reach the server wrap keyward.ErrUnavailable.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/spendgroup"
	"github.com/keyward/keyward/internal/useddays"
)

// defaultConnectTimeout bounds a connection attempt when the URL sets no
// connect_timeout, so that an unreachable server fails instead of hanging.
const defaultConnectTimeout = 10 * time.Second

// Options configures [Open]. The zero value is usable.
type Options struct {
	// Migrate brings the schema up to date when opening.
	Migrate bool
	// MaxConns of the pool; 0 means pgxpool's default.
	MaxConns int32
}

// Store is a [keyward.Store] on PostgreSQL. It is safe for concurrent use.
// Make one with [Open].
//
// Times are stored with millisecond precision and read back in UTC; JSON
// (metadata, audit details) is stored as jsonb, so it reads back compact and
// with object keys in jsonb's order. PostgreSQL text cannot hold NUL
// characters: writing one fails.
type Store struct {
	pool       *pgxpool.Pool
	addr       string // the server's address, for messages
	migrations []migration
	closed     atomic.Bool
	spends     spendgroup.Queue // see spends.go
	usedDays   useddays.Days    // see RecordUsage
}

var _ keyward.Store = (*Store)(nil)

// Open connects to the database at url (postgres:// or postgresql://, with
// any libpq parameter pgx understands in the query), checks that it is
// reachable and that its schema is not newer than this binary knows, and,
// with opts.Migrate, migrates it. opts may be nil.
//
// A database migrated by a newer keyward is refused with an error wrapping
// keyward.ErrSchemaTooNew, and nothing is written to it. An unreachable
// server gives an error wrapping keyward.ErrUnavailable. Without
// opts.Migrate an older schema is accepted, so that [Store.Migrate] can be
// run later; until then the store's methods fail.
func Open(ctx context.Context, url string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(url)
	if err != nil {
		return nil, err
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, scrub(fmt.Errorf("postgres: %w", err), cfg.ConnConfig.Password)
	}
	s := &Store{pool: pool, addr: address(&cfg.ConnConfig.Config), migrations: ms}
	s.spends.Run = s.runSpends
	if err := s.open(ctx, opts); err != nil {
		pool.Close()
		return nil, scrub(err, cfg.ConnConfig.Password)
	}
	return s, nil
}

// open checks the new store's server and schema, and migrates if asked.
func (s *Store) open(ctx context.Context, opts *Options) error {
	if err := s.pool.Ping(ctx); err != nil {
		if !unavailable(err) {
			return s.fail(ctx, err, "", "")
		}
		// Whether pgx reports the failed attempts or the deadline of ctx
		// passed first, no connection could be made.
		return &storeError{"postgres: " + connectFailure(err, s.addr), []error{keyward.ErrUnavailable, err}}
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if err := s.checkVersion(v); err != nil {
		return err
	}
	if opts.Migrate {
		return s.Migrate(ctx)
	}
	return nil
}

// parseConfig reads a postgres:// URL into a pool configuration. Its errors
// never hold the password.
func parseConfig(raw string) (*pgxpool.Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var ee url.EscapeError
		if errors.As(err, &ee) {
			return nil, errors.New("postgres: invalid URL: malformed %-escape")
		}
		return nil, fmt.Errorf("postgres: invalid URL: %v", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "postgres", "postgresql":
	case "":
		return nil, errors.New("postgres: invalid URL: no scheme (want postgres://user@host:port/database)")
	default:
		return nil, fmt.Errorf("postgres: unsupported URL scheme %q (want postgres:// or postgresql://)", u.Scheme)
	}
	cfg, err := pgxpool.ParseConfig(raw)
	if err != nil {
		msg := err.Error()
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			// "cannot parse `<redacted URL>`: <reason>": keep the reason.
			if i := strings.LastIndex(msg, "`: "); i >= 0 {
				msg = msg[i+len("`: "):]
			}
		}
		return nil, fmt.Errorf("postgres: invalid URL: %s", msg)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		// Times come back in UTC, as the Service writes them.
		c.TypeMap().RegisterType(&pgtype.Type{
			Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}
	return cfg, nil
}

// Ping returns nil when the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.fail(ctx, err, "ping", "")
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned.
// Later calls fail with keyward.ErrClosed.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.pool.Close()
	return nil
}

// storeError is an error with a message of its own that still matches, with
// errors.Is and errors.As, the sentinel it stands for and its cause.
type storeError struct {
	msg  string
	errs []error
}

func (e *storeError) Error() string   { return e.msg }
func (e *storeError) Unwrap() []error { return e.errs }

// fail turns err, from operation op on key id (either may be ""), into the
// store's error: ErrClosed after Close, ErrUnavailable when the server cannot
// be reached, ErrConflict for a unique violation, else err with context.
// When ctx, the operation's, ended, the error says why whatever pgx
// reported (a connection closed under the statement): past its deadline it
// wraps ErrUnavailable and context.DeadlineExceeded (the server was too
// slow); canceled, context.Canceled (the caller went away, the server did
// not fail). A group of credit spends runs with a context whose cause is
// that of its last caller.
func (s *Store) fail(ctx context.Context, err error, op, id string) error {
	prefix := "postgres: "
	if op != "" {
		prefix += op
		if id != "" {
			prefix += " " + strconv.Quote(id)
		}
		prefix += ": "
	}
	var pe *pgconn.PgError
	switch {
	case s.closed.Load():
		return &storeError{prefix + "store is closed", []error{keyward.ErrClosed, err}}
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		return &storeError{prefix + "timed out: " + err.Error(), []error{keyward.ErrUnavailable, context.DeadlineExceeded, err}}
	case ctx.Err() != nil && !errors.Is(err, context.Canceled):
		return &storeError{prefix + "canceled: " + err.Error(), []error{context.Canceled, err}}
	case unavailable(err):
		return &storeError{prefix + s.describe(err), []error{keyward.ErrUnavailable, err}}
	case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
		detail := strings.TrimSuffix(pe.Detail, ".")
		if detail == "" {
			detail = pe.Message
		}
		return &storeError{prefix + detail, []error{keyward.ErrConflict, err}}
	}
	return fmt.Errorf("%s%w", prefix, err)
}

// unavailable reports whether err means the server could not be reached or
// the connection to it broke (as opposed to a failed statement).
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up; the server may be fine
	}
	var (
		ce *pgconn.ConnectError
		ne net.Error
		pe *pgconn.PgError
	)
	switch {
	case errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &pe):
		switch pe.Code {
		case "57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			"53300": // too_many_connections
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection_exception
	}
	return false
}

// describe says in a few words why the server could not be reached or the
// connection to it broke.
func (s *Store) describe(err error) string {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return connectFailure(err, s.addr)
	}
	return fmt.Sprintf("server %s unavailable: %s", s.addr, cause(err))
}

// connectFailure says why no connection to the server at addr could be
// made, e.g. "cannot connect to 127.0.0.1:5432: connection refused".
func connectFailure(err error, addr string) string {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		addr, err = address(ce.Config), ce.Unwrap()
	}
	return fmt.Sprintf("cannot connect to %s: %s", addr, cause(err))
}

// address returns where cfg points.
func address(cfg *pgconn.Config) string {
	if cfg == nil {
		return "(unknown address)"
	}
	port := strconv.Itoa(int(cfg.Port))
	if strings.HasPrefix(cfg.Host, "/") {
		return cfg.Host + "/.s.PGSQL." + port
	}
	return net.JoinHostPort(cfg.Host, port)
}

// cause returns the most telling part of a connection error: the server's
// message, the system error, or the innermost error.
func cause(err error) string {
	var (
		pe    *pgconn.PgError
		errno syscall.Errno
		dns   *net.DNSError
	)
	switch {
	case err == nil:
		return "unknown error"
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return "timed out"
	case errors.As(err, &pe):
		return pe.Message
	case errors.As(err, &errno):
		return errno.Error()
	case errors.As(err, &dns):
		return dns.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed the connection"
	}
	for {
		next := errors.Unwrap(err)
		if joined, ok := err.(interface{ Unwrap() []error }); ok && next == nil {
			if errs := joined.Unwrap(); len(errs) > 0 {
				next = errs[0]
			}
		}
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// scrub removes password from the message of err, as a last safeguard: the
// errors of this package are built so as not to contain it.
func scrub(err error, password string) error {
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &storeError{strings.ReplaceAll(err.Error(), password, "xxxxx"), []error{err}}
}

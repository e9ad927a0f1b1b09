package main

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	redisbus "github.com/keyward/keyward/cache/redis"
	"github.com/keyward/keyward/ratelimit"
	redislimit "github.com/keyward/keyward/ratelimit/redis"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
)

// keysOptions are the flags every keys verb shares.
type keysOptions struct {
	databaseURL string
	redisURL    string
	pepperFile  string
	hasher      string
	output      string
	rehash      bool // keys verify --rehash
}

// keysEnv is an open database with a Service on it, for one CLI command.
type keysEnv struct {
	svc   *keyward.Service
	store keyward.Store
	close []func()
	ctx   context.Context
}

func (e *keysEnv) Close() {
	for i := len(e.close) - 1; i >= 0; i-- {
		e.close[i]()
	}
}

func (a *app) keysCmd() *cobra.Command {
	o := &keysOptions{}
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage keys straight in the database",
		Long: `Manage keys straight in the database named by --database-url, whether keyward serve
is running or not. Changes reach running servers within their --cache-ttl (30s by
default), or at once when this command gets the same --redis-url.

Output is a table for people; --output json for scripts. Exit status: 0 on success,
1 on an error or a failed verification, 2 on bad usage.`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&o.databaseURL, "database-url", "sqlite:keyward.db", "sqlite:<path> or postgres://user@host/db")
	f.StringVar(&o.redisURL, "redis-url", "", "publish changes on this Redis, so running servers drop their cached copies at once")
	f.StringVar(&o.pepperFile, "pepper-file", "", "file with the server's pepper(s) (default: KEYWARD_PEPPER, else <sqlite file>.pepper)")
	f.StringVar(&o.hasher, "hasher", "hmac", "hasher for new keys: hmac, argon2id or bcrypt (as the server's --hasher)")
	f.StringVarP(&o.output, "output", "o", "table", "table or json")
	cmd.AddCommand(a.keysCreate(o), a.keysList(o), a.keysGet(o), a.keysUpdate(o), a.keysRevoke(o),
		a.keysRotate(o), a.keysDelete(o), a.keysVerify(o), a.keysImport(o), a.keysExport(o))
	return cmd
}

// withKeys is the skeleton of every keys verb: it opens the database and a
// Service on it, runs fn with a printer for o's --output, closes everything,
// and maps the Service's errors to messages for people (id names the key the
// verb works on, "" if none).
func (a *app) withKeys(ctx context.Context, o *keysOptions, id string, fn func(env *keysEnv, p *printer) error) error {
	env, err := a.open(ctx, o)
	if err != nil {
		return err
	}
	defer env.Close()
	if err := fn(env, a.printer(o)); err != nil {
		return cliError(err, id)
	}
	return nil
}

// idCommand is a keys verb that takes one key ID and nothing else: run
// works on it inside withKeys.
func (a *app) idCommand(o *keysOptions, verb, short string, run func(env *keysEnv, p *printer, id string) error) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " ID",
		Short:   short,
		Example: "  keyward keys " + verb + " tJWllq6HlvDp2QDx",
		Args:    exactArgs(1, "a key ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withKeys(cmd.Context(), o, args[0], func(env *keysEnv, p *printer) error {
				return run(env, p, args[0])
			})
		},
	}
}

// open opens the database for a keys command. The database must exist and be
// migrated: a typo in a path must not create a new, empty database.
func (a *app) open(ctx context.Context, o *keysOptions) (*keysEnv, error) {
	if o.output != "table" && o.output != "json" {
		return nil, usagef("--output must be table or json, got %q", o.output)
	}
	u, err := parseDatabaseURL(o.databaseURL)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	peppers, err := loadPeppers(u, pepperSource{env: a.getenv("KEYWARD_PEPPER"), file: o.pepperFile}, false, nil)
	if err != nil {
		return nil, err
	}
	hasher, err := buildHasher(o.hasher, peppers)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	base, err := openStore(ctx, u, openOptions{mustExist: true})
	if err != nil {
		return nil, err
	}
	env := &keysEnv{store: base, ctx: ctx, close: []func(){func() { base.Close() }}}
	if err := checkSchema(ctx, base); err != nil {
		env.Close()
		return nil, err
	}
	// Verify spends from a rate limit as the server does: in-process, or
	// with --redis-url in the budget every server on that Redis shares.
	store := base
	var limiter keyward.Limiter = ratelimit.NewLocal()
	if o.redisURL != "" {
		opts, err := goredis.ParseURL(o.redisURL)
		if err != nil {
			env.Close()
			return nil, usagef("--redis-url: %v", err)
		}
		opts.Protocol = 2
		client := goredis.NewClient(opts)
		bus := redisbus.New(client, nil)
		c, err := cache.New(noClose{base}, &cache.Options{Bus: bus})
		if err != nil {
			env.Close()
			return nil, err
		}
		env.close = append(env.close, func() { client.Close() }, func() { bus.Close() }, func() { c.Close() })
		store = c
		limiter = redislimit.New(client, nil)
	}
	svc, err := keyward.New(store, hasher, &keyward.Options{Limiter: limiter, UsageFlushInterval: -1, NoRehash: !o.rehash})
	if err != nil {
		env.Close()
		return nil, err
	}
	env.svc = svc
	env.close = append(env.close, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		svc.Close(ctx) // writes the usage of verify
	})
	name := "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = "cli:" + u.Username
	}
	env.ctx = keyward.NewActorContext(ctx, keyward.Actor{ID: name})
	return env, nil
}

// noClose keeps the cache from closing the store twice.
type noClose struct{ keyward.Store }

func (noClose) Close() error { return nil }

// checkSchema refuses a database this binary has not migrated to its version.
func checkSchema(ctx context.Context, s keyward.Store) error {
	var have, want int
	var err error
	switch st := s.(type) {
	case *sqlite.Store:
		have, err = st.SchemaVersion(ctx)
		want = sqlite.LatestVersion()
	case *postgres.Store:
		have, err = st.SchemaVersion(ctx)
		want = st.LatestVersion()
	default:
		return nil
	}
	if err != nil {
		return err
	}
	if have < want {
		return fmt.Errorf("the database schema is at version %d and this keyward needs %d: run keyward migrate", have, want)
	}
	return nil
}

// cliError maps Service errors to messages for people; id is the key the
// command works on ("" if none).
func cliError(err error, id string) error {
	var ve *keyward.ValidationError
	switch {
	case errors.As(err, &ve):
		var lines []string
		for _, p := range ve.Problems {
			field := "--" + strings.ReplaceAll(strings.SplitN(p.Field, "[", 2)[0], "_", "-")
			lines = append(lines, fmt.Sprintf("%s: %s", strings.Replace(field, ".", "-", 1), p.Message))
		}
		return &usageError{msg: "invalid input:\n  " + strings.Join(lines, "\n  ")}
	case id == "":
		return err
	case errors.Is(err, keyward.ErrNotFound):
		return fmt.Errorf("no key with id %q", id)
	case errors.Is(err, keyward.ErrConflict):
		return fmt.Errorf("key %s: %s", id, strings.TrimPrefix(err.Error(), "keyward: key "+id+" "))
	}
	return err
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("expected %s, got %d argument(s)", names, len(args))
		}
		return nil
	}
}

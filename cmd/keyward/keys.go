package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	redisbus "github.com/keyward/keyward/cache/redis"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	redislimit "github.com/keyward/keyward/ratelimit/redis"
	"github.com/keyward/keyward/store/postgres"
	"github.com/keyward/keyward/store/sqlite"
)

// keysOptions are the flags every keys verb shares; the owners and roles
// verbs share its database, Redis and output flags.
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
	svc     *keyward.Service
	store   keyward.Store
	hasher  keyward.Hasher   // the Service's, for imports that hash plaintext keys
	peppers []keyhash.Pepper // the configured peppers, current first
	close   cleanup
	ctx     context.Context
}

func (e *keysEnv) Close() { e.close.run() }

func (a *app) keysCmd() *cobra.Command {
	o := &keysOptions{}
	cmd := o.group("keys", "Manage keys straight in the database",
		`Manage keys straight in the database named by --database-url, whether keyward serve
is running or not. Changes reach running servers within about a second (they follow
the database's change log), or at once when this command gets the same --redis-url.

keys create and keys import set up a SQLite database that does not exist yet, as
keyward serve does: migrated, and for keys create with a random pepper beside it unless
one is configured. The other verbs need an existing database, so a mistyped path
creates nothing.

Output is a table for people; --output json for scripts; --output id prints only the
ids of the keys a verb prints (one a line), e.g. ID=$(keyward keys create NAME
--secret-file key.txt -o id). Exit status: 0 on success, 1 on an error or a failed
verification, 2 on bad usage.`,
		a.keysCreate(o), a.keysList(o), a.keysGet(o), a.keysUpdate(o), a.keysRevoke(o),
		a.keysRotate(o), a.keysDelete(o), a.keysVerify(o), a.keysImport(o), a.keysExport(o))
	f := cmd.PersistentFlags()
	f.StringVar(&o.pepperFile, "pepper-file", "", "file with the server's pepper(s) (default: KEYWARD_PEPPER, else <sqlite file>.pepper)")
	f.StringVar(&o.hasher, "hasher", "hmac", "hasher for new keys: hmac, argon2id or bcrypt (as the server's --hasher)")
	return cmd
}

// Kinds of record a verb works on, for error messages.
const (
	kindKey   = ""
	kindOwner = "owner"
	kindRole  = "role"
)

// group returns the command group use, with short and long as its help,
// whose verbs work straight on the database: it registers the flags of
// registerStore, which fill o, and adds the verbs.
func (o *keysOptions) group(use, short, long string, verbs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long}
	o.registerStore(cmd)
	cmd.AddCommand(verbs...)
	return cmd
}

// registerStore registers, on cmd and every verb below it, the flags of
// the commands that work straight on the database (keys, owners, roles), and
// returns those persistent flags for more.
func (o *keysOptions) registerStore(cmd *cobra.Command) *pflag.FlagSet {
	f := cmd.PersistentFlags()
	f.StringVar(&o.databaseURL, "database-url", "sqlite:keyward.db", "sqlite:<path> or postgres://user@host/db")
	f.StringVar(&o.redisURL, "redis-url", "", "publish changes on this Redis, so running servers drop their cached copies at once")
	f.StringVarP(&o.output, "output", "o", "table", "table or json; id prints only the ids of the keys (or peppers) a verb prints, one a line")
	return f
}

// verb says what a keys, owners or roles verb needs of withKeys.
type verb struct {
	id    string // the key, owner or role it works on, for error messages; "" if none
	kind  string // what id names: kindKey, kindOwner or kindRole
	setUp bool   // it may set up a new SQLite database (create, import)
	// newPepper lets setUp create a random pepper when none is configured
	// (create); import needs the pepper its keys were hashed with.
	newPepper bool
	// noPepper: the verb hashes and verifies no key (owners, roles), so it
	// needs no pepper and reads none.
	noPepper bool
	// fields names the flags its validation problems come from.
	fields fieldFlags
	// ids: the verb prints keys (or a key id), so --output id may print
	// just their ids.
	ids bool
}

// withKeys is the skeleton of every keys verb: it opens the database and a
// Service on it, runs fn with a printer for o's --output, closes everything,
// and maps the Service's errors to messages for people.
func (a *app) withKeys(ctx context.Context, o *keysOptions, v verb, fn func(env *keysEnv, p *printer) error) error {
	env, err := a.open(ctx, o, v)
	if err != nil {
		return err
	}
	defer env.Close()
	if err := fn(env, a.printer(o)); err != nil {
		return cliError(err, v)
	}
	return nil
}

// idCommand is a keys verb that takes one key ID and nothing else: run
// works on it inside withKeys.
func (a *app) idCommand(o *keysOptions, name, short string, run func(env *keysEnv, p *printer, id string) error) *cobra.Command {
	return &cobra.Command{
		Use:     name + " ID",
		Short:   short,
		Example: "  keyward keys " + name + " tJWllq6HlvDp2QDx",
		Args:    exactArgs(1, "a key ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withKeys(cmd.Context(), o, verb{id: args[0], ids: true}, func(env *keysEnv, p *printer) error {
				return run(env, p, args[0])
			})
		},
	}
}

// open opens the database for a keys command, with a Service on it. Every
// input is checked before anything is created. A database must exist and be
// migrated, so that a typo in a path creates nothing; but with v.setUp (the
// verbs that add keys) a SQLite file that does not exist yet is set up as
// keyward serve does it: created, migrated, and with v.newPepper given a
// random pepper beside it unless one is configured.
func (a *app) open(ctx context.Context, o *keysOptions, v verb) (*keysEnv, error) {
	u, redisOpts, err := o.check(v.ids)
	if err != nil {
		return nil, err
	}
	fresh := false
	if u.kind == "sqlite" {
		if _, err := os.Stat(u.path); errors.Is(err, fs.ErrNotExist) {
			if !v.setUp {
				return nil, fmt.Errorf("no database at %s: the file does not exist (keyward keys create, keyward migrate or keyward serve creates it)", u.path)
			}
			fresh = true
		}
	}
	peppers, missing, err := a.peppers(u, o, v, fresh)
	if err != nil {
		return nil, err
	}
	base, err := openStore(ctx, u, openOptions{mustExist: !fresh, migrate: fresh})
	if err != nil {
		return nil, err
	}
	env := &keysEnv{store: base, ctx: ctx, close: cleanup{func() { base.Close() }}}
	if err := checkSchema(ctx, base); err != nil {
		env.Close()
		return nil, err
	}
	if fresh {
		log := newLogger(a.stderr, "text", "info")
		log.Info("created a new SQLite database", "file", u.path)
		if missing != "" {
			if peppers, err = createPepper(missing, log); err != nil {
				env.Close()
				return nil, err
			}
		}
	}
	env.peppers = peppers
	if err := env.startService(o, base, peppers, redisOpts); err != nil {
		env.Close()
		return nil, err
	}
	name := "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = "cli:" + u.Username
	}
	env.ctx = keyward.NewActorContext(ctx, keyward.Actor{ID: name})
	return env, nil
}

// peppers finds the peppers for a verb (see findPeppers), or for a verb
// that needs none a throwaway one: the Service wants a hasher, and such a
// verb never hashes a key with it.
func (a *app) peppers(u dbURL, o *keysOptions, v verb, fresh bool) (peppers []keyhash.Pepper, missing string, err error) {
	if v.noPepper {
		b := make([]byte, keyhash.MinPepperLength)
		rand.Read(b)
		p, err := keyhash.NewPepper(b)
		return []keyhash.Pepper{p}, "", err
	}
	peppers, missing, err = findPeppers(u, pepperSource{env: a.getenv("KEYWARD_PEPPER"), file: o.pepperFile})
	if err != nil {
		return nil, "", &usageError{msg: err.Error()}
	}
	switch {
	case missing != "" && !fresh:
		return nil, "", fmt.Errorf("no pepper: %s does not exist: set KEYWARD_PEPPER or --pepper-file to the pepper this database's keys were hashed with", missing)
	case missing != "" && !v.newPepper:
		return nil, "", usagef("no pepper: the keys verify only with the pepper they were hashed with: set KEYWARD_PEPPER or --pepper-file, or put it in %s", missing)
	}
	return peppers, missing, nil
}

// check checks the flags every keys verb shares; ids says whether the verb
// can print --output id.
func (o *keysOptions) check(ids bool) (dbURL, *goredis.Options, error) {
	switch {
	case o.output == "id" && !ids:
		return dbURL{}, nil, usagef("--output must be table or json here: id is for the verbs that print keys (keys create, list, get, update, rotate, revoke, delete) and keyward peppers")
	case o.output != "table" && o.output != "json" && o.output != "id":
		return dbURL{}, nil, usagef("--output must be table or json (or id, for the verbs that print keys), got %q", o.output)
	}
	u, err := parseDatabaseURL(o.databaseURL)
	if err != nil {
		return dbURL{}, nil, &usageError{msg: err.Error()}
	}
	if err := checkHasher(o.hasher); err != nil {
		return dbURL{}, nil, &usageError{msg: err.Error()}
	}
	if o.redisURL == "" {
		return u, nil, nil
	}
	opts, err := goredis.ParseURL(o.redisURL)
	if err != nil {
		return dbURL{}, nil, usagef("--redis-url: %s", redisURLError(err))
	}
	opts.Protocol = 2
	return u, opts, nil
}

// startService puts a Service on base. Verify spends from a rate limit as
// the server does: in-process, or with --redis-url in the budget every
// server on that Redis shares; and it rehashes only with --rehash.
func (e *keysEnv) startService(o *keysOptions, base keyward.Store, peppers []keyhash.Pepper, redisOpts *goredis.Options) error {
	hasher, err := buildHasher(o.hasher, peppers)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	store := base
	var limiter keyward.Limiter = ratelimit.NewLocal()
	if redisOpts != nil {
		client := goredis.NewClient(redisOpts)
		bus := redisbus.New(client, nil)
		c, err := cache.New(noClose{base}, &cache.Options{Bus: bus})
		if err != nil {
			client.Close()
			bus.Close()
			return err
		}
		e.close = append(e.close, func() { client.Close() }, func() { bus.Close() }, func() { c.Close() })
		store = c
		limiter = redislimit.New(client, nil)
	}
	svc, err := keyward.New(store, hasher, &keyward.Options{Limiter: limiter, UsageFlushInterval: -1, NoRehash: !o.rehash})
	if err != nil {
		return err
	}
	e.svc, e.hasher = svc, hasher
	e.close = append(e.close, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		svc.Close(ctx) // writes the usage of verify
	})
	return nil
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

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("expected %s, got %d argument(s)", names, len(args))
		}
		return nil
	}
}

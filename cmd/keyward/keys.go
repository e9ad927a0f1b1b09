package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	redisbus "github.com/keyward/keyward/cache/redis"
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
	store := base
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
	}
	svc, err := keyward.New(store, hasher, &keyward.Options{UsageFlushInterval: -1})
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

// printer writes results as tables or JSON.
type printer struct {
	w     io.Writer
	json  bool
	color bool
	now   time.Time
}

func (a *app) printer(o *keysOptions) *printer {
	return &printer{w: a.stdout, json: o.output == "json", color: isTerminal(a.stdout) && a.getenv("NO_COLOR") == "", now: time.Now()}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *printer) printJSON(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// keyView is a key as the CLI shows it in JSON (as the API does).
type keyView struct {
	*keyward.Key
	Status keyward.Status `json:"status"`
}

func (p *printer) view(k *keyward.Key) keyView { return keyView{Key: k, Status: k.Status(p.now)} }

func (p *printer) status(s keyward.Status) string {
	if !p.color {
		return string(s)
	}
	code := map[keyward.Status]string{keyward.StatusActive: "32", keyward.StatusDisabled: "33", keyward.StatusRevoked: "31", keyward.StatusExpired: "31"}[s]
	return "\x1b[" + code + "m" + string(s) + "\x1b[0m"
}

// relative says when t is from now, in words: "in 29 days", "3 minutes ago".
func relative(t *time.Time, now time.Time, never string) string {
	if t == nil {
		return never
	}
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	round := func(unit time.Duration) int { return int((d + unit/2) / unit) }
	var s string
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		s = plural(round(time.Second), "second")
	case d < time.Hour:
		s = plural(round(time.Minute), "minute")
	case d < 48*time.Hour:
		s = plural(round(time.Hour), "hour")
	case d < 60*24*time.Hour:
		s = plural(round(24*time.Hour), "day")
	case d < 730*24*time.Hour:
		s = plural(round(30*24*time.Hour), "month")
	default:
		s = plural(round(365*24*time.Hour), "year")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

func (p *printer) table(header []string, rows [][]string) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], visibleLen(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-visibleLen(c)+2))
			}
		}
		fmt.Fprintln(p.w, strings.TrimRight(b.String(), " "))
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}

// visibleLen is the width of s on a terminal: colour codes take no room.
func visibleLen(s string) int {
	n, esc := 0, false
	for _, r := range s {
		switch {
		case r == '\x1b':
			esc = true
		case esc && r == 'm':
			esc = false
		case !esc:
			n++
		}
	}
	return n
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// details prints one key as aligned "field: value" lines.
func (p *printer) details(k *keyward.Key) {
	rl, credits, refill := "none", "unlimited", "none"
	if k.RateLimit != nil {
		rl = fmt.Sprintf("%d per %s", k.RateLimit.Limit, k.RateLimit.Period)
	}
	if k.Remaining != nil {
		credits = strconv.FormatInt(*k.Remaining, 10)
	}
	if k.Refill != nil {
		refill = fmt.Sprintf("%d %s", k.Refill.Amount, k.Refill.Interval)
	}
	when := func(t *time.Time, never string) string {
		if t == nil {
			return never
		}
		return relative(t, p.now, never) + " (" + t.UTC().Format(time.RFC3339) + ")"
	}
	rows := [][2]string{
		{"id", k.ID}, {"name", k.Name}, {"status", p.status(k.Status(p.now))}, {"owner", orDash(k.Owner)},
		{"description", orDash(k.Description)}, {"prefix", k.Prefix}, {"scopes", orDash(strings.Join(k.Scopes, " "))},
		{"rate limit", rl}, {"credits", credits}, {"refill", refill},
		{"allowed cidrs", orDash(strings.Join(k.AllowedCIDRs, " "))}, {"metadata", string(k.Metadata)},
		{"created", when(&k.CreatedAt, "")}, {"expires", when(k.ExpiresAt, "never")},
		{"last used", when(k.LastUsedAt, "never")}, {"revoked", when(k.RevokedAt, "no")},
	}
	if k.Replaces != nil {
		rows = append(rows, [2]string{"replaces", *k.Replaces})
	}
	if k.ReplacedBy != nil {
		rows = append(rows, [2]string{"replaced by", *k.ReplacedBy})
	}
	for _, r := range rows {
		fmt.Fprintf(p.w, "%-14s %s\n", r[0]+":", r[1])
	}
}

// issued prints a new key and its secret, once.
func (p *printer) issued(iss keyward.Issued, stderr io.Writer) error {
	if p.json {
		return p.printJSON(struct {
			Key    keyView `json:"key"`
			Secret string  `json:"secret"`
		}{p.view(iss.Key), iss.Secret})
	}
	p.details(iss.Key)
	fmt.Fprintf(p.w, "\nsecret:        %s\n", iss.Secret)
	fmt.Fprintln(stderr, "\nThis is the only time the secret is shown: keyward keeps only its hash. Store it now.")
	return nil
}

// cliError maps Service errors to messages for people.
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
	case errors.Is(err, keyward.ErrNotFound):
		return fmt.Errorf("no key with id %q", id)
	case errors.Is(err, keyward.ErrConflict):
		return fmt.Errorf("key %s: %s", id, strings.TrimPrefix(err.Error(), "keyward: key "+id+" "))
	}
	return err
}

// keyFlags are the settings of create and update.
type keyFlags struct {
	description, owner, metadata, prefix string
	scopes, cidrs                        []string
	expiresIn, expiresAt                 string
	rateLimit, refill                    string
	remaining                            int64
	disabled                             bool
}

func (f *keyFlags) register(cmd *cobra.Command, create bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.description, "description", "", "what the key is for")
	fl.StringVar(&f.owner, "owner", "", "who the key belongs to (user, team, tenant)")
	fl.StringArrayVar(&f.scopes, "scope", nil, "a granted scope (repeat for more); \"res:*\" grants every res: scope")
	fl.StringVar(&f.metadata, "metadata", "", `a JSON object, e.g. '{"plan":"pro"}'`)
	fl.StringVar(&f.expiresIn, "expires-in", "", "expire after this Go duration, e.g. 720h")
	fl.StringVar(&f.expiresAt, "expires-at", "", "expire at this RFC 3339 time")
	fl.StringVar(&f.rateLimit, "rate-limit", "", "at most N per period, e.g. 100/1m or 5000/24h")
	fl.Int64Var(&f.remaining, "remaining", 0, "credits: uses left (default unlimited)")
	fl.StringVar(&f.refill, "refill", "", "reset credits each day or month, e.g. daily:1000 or monthly:50000")
	fl.StringArrayVar(&f.cidrs, "allowed-cidr", nil, "a CIDR the client address must be in (repeat for more)")
	if create {
		fl.StringVar(&f.prefix, "prefix", "", "prefix of the key string (default kw), e.g. sk_live")
		fl.BoolVar(&f.disabled, "disabled", false, "create the key disabled")
	}
}

func parseRateLimit(s string) (*keyward.RateLimit, error) {
	n, period, ok := strings.Cut(s, "/")
	limit, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil {
		return nil, usagef("--rate-limit %q: want N/period, e.g. 100/1m", s)
	}
	d, err := time.ParseDuration(period)
	if err != nil {
		return nil, usagef("--rate-limit %q: the period must be a Go duration, e.g. 1m", s)
	}
	return &keyward.RateLimit{Limit: limit, Period: keyward.Duration(d)}, nil
}

func parseRefill(s string) (*keyward.Refill, error) {
	iv, n, ok := strings.Cut(s, ":")
	amount, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil {
		return nil, usagef("--refill %q: want daily:N or monthly:N", s)
	}
	return &keyward.Refill{Interval: iv, Amount: amount}, nil
}

func parseExpiry(in, at string) (*keyward.Duration, *time.Time, error) {
	var d *keyward.Duration
	var t *time.Time
	if in != "" {
		v, err := time.ParseDuration(in)
		if err != nil {
			return nil, nil, usagef("--expires-in %q: want a Go duration, e.g. 720h", in)
		}
		d = keyward.Ptr(keyward.Duration(v))
	}
	if at != "" {
		v, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return nil, nil, usagef("--expires-at %q: want an RFC 3339 time, e.g. 2027-01-31T00:00:00Z", at)
		}
		t = &v
	}
	return d, t, nil
}

func (a *app) keysCreate(o *keysOptions) *cobra.Command {
	var f keyFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a key and print its secret, once",
		Example: `  keyward keys create "billing service" --owner team-billing --scope invoices:read --rate-limit 100/1m
  keyward keys create ci-bot --expires-in 720h --remaining 1000 --refill monthly:1000 -o json`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := keyward.CreateParams{Name: args[0], Description: f.description, Owner: f.owner, Scopes: f.scopes, Prefix: f.prefix, AllowedCIDRs: f.cidrs}
			if f.metadata != "" {
				p.Metadata = json.RawMessage(f.metadata)
			}
			var err error
			if p.ExpiresIn, p.ExpiresAt, err = parseExpiry(f.expiresIn, f.expiresAt); err != nil {
				return err
			}
			if f.rateLimit != "" {
				if p.RateLimit, err = parseRateLimit(f.rateLimit); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("remaining") {
				p.Remaining = &f.remaining
			}
			if f.refill != "" {
				if p.Refill, err = parseRefill(f.refill); err != nil {
					return err
				}
			}
			if f.disabled {
				p.Enabled = keyward.Ptr(false)
			}
			env, err := a.open(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer env.Close()
			iss, err := env.svc.Create(env.ctx, p)
			if err != nil {
				return cliError(err, "")
			}
			return a.printer(o).issued(iss, a.stderr)
		},
	}
	f.register(cmd, true)
	return cmd
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("expected %s, got %d argument(s)", names, len(args))
		}
		return nil
	}
}

func (a *app) keysList(o *keysOptions) *cobra.Command {
	var owner, status, query, cursor string
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List keys, newest first",
		Example: `  keyward keys list --owner team-billing --status active
  keyward keys list -q billing --all -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := a.open(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer env.Close()
			p := a.printer(o)
			var items []*keyward.Key
			next := cursor
			for {
				page, err := env.svc.List(env.ctx, keyward.ListParams{Owner: owner, Status: keyward.Status(status), Query: query, Cursor: next, Limit: limit})
				if err != nil {
					return cliError(err, "")
				}
				items = append(items, page.Items...)
				next = page.NextCursor
				if !all || next == "" {
					break
				}
			}
			if p.json {
				views := make([]keyView, len(items))
				for i, k := range items {
					views[i] = p.view(k)
				}
				return p.printJSON(struct {
					Items      []keyView `json:"items"`
					NextCursor string    `json:"next_cursor,omitempty"`
				}{views, next})
			}
			rows := make([][]string, len(items))
			for i, k := range items {
				rows[i] = []string{k.Name, k.ID, orDash(k.Owner), orDash(strings.Join(k.Scopes, " ")), p.status(k.Status(p.now)),
					relative(k.LastUsedAt, p.now, "never"), relative(k.ExpiresAt, p.now, "never")}
			}
			p.table([]string{"NAME", "ID", "OWNER", "SCOPES", "STATUS", "LAST USED", "EXPIRES"}, rows)
			if next != "" {
				fmt.Fprintf(a.stderr, "more keys follow: --cursor %s (or --all)\n", next)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&owner, "owner", "", "only keys of this owner")
	fl.StringVar(&status, "status", "", "only keys in this status: active, disabled, revoked, expired")
	fl.StringVarP(&query, "query", "q", "", "only keys whose name contains this, ignoring case")
	fl.IntVar(&limit, "limit", 50, "keys per page, 1-1000")
	fl.StringVar(&cursor, "cursor", "", "start after this cursor (printed after a full page)")
	fl.BoolVar(&all, "all", false, "every page")
	return cmd
}

func (a *app) keysGet(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "get ID",
		Short:   "Show a key",
		Example: `  keyward keys get tJWllq6HlvDp2QDx`,
		Args:    exactArgs(1, "a key ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := a.open(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer env.Close()
			k, err := env.svc.Get(env.ctx, args[0])
			if err != nil {
				return cliError(err, args[0])
			}
			p := a.printer(o)
			if p.json {
				return p.printJSON(p.view(k))
			}
			p.details(k)
			return nil
		},
	}
}

func (a *app) keysUpdate(o *keysOptions) *cobra.Command {
	var f keyFlags
	var name string
	var enable, disable, noExpiry, noRateLimit, unlimited, noRefill, clearScopes, clearCIDRs bool
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change a key's settings",
		Long:  "Change the settings given as flags; the others stay. --scope and --allowed-cidr replace the whole list.",
		Example: `  keyward keys update tJWllq6HlvDp2QDx --expires-in 720h --rate-limit 200/1m
  keyward keys update tJWllq6HlvDp2QDx --disable`,
		Args: exactArgs(1, "a key ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch := cmd.Flags().Changed
			var p keyward.UpdateParams
			if ch("name") {
				p.Name = &name
			}
			if ch("description") {
				p.Description = &f.description
			}
			if ch("owner") {
				p.Owner = &f.owner
			}
			if ch("scope") || clearScopes {
				p.Scopes = &f.scopes
			}
			if ch("allowed-cidr") || clearCIDRs {
				p.AllowedCIDRs = &f.cidrs
			}
			if f.metadata != "" {
				p.Metadata = json.RawMessage(f.metadata)
			}
			if enable && disable {
				return usagef("--enable and --disable contradict each other")
			}
			if enable || disable {
				p.Enabled = keyward.Ptr(enable)
			}
			in, at, err := parseExpiry(f.expiresIn, f.expiresAt)
			if err != nil {
				return err
			}
			p.ExpiresIn = in
			if at != nil {
				p.ExpiresAt = keyward.SetTo(*at)
			}
			if noExpiry {
				p.ExpiresAt = keyward.Clear[time.Time]()
			}
			if f.rateLimit != "" {
				rl, err := parseRateLimit(f.rateLimit)
				if err != nil {
					return err
				}
				p.RateLimit = keyward.SetTo(*rl)
			}
			if noRateLimit {
				p.RateLimit = keyward.Clear[keyward.RateLimit]()
			}
			if ch("remaining") {
				p.Remaining = keyward.SetTo(f.remaining)
			}
			if unlimited {
				p.Remaining = keyward.Clear[int64]()
			}
			if f.refill != "" {
				r, err := parseRefill(f.refill)
				if err != nil {
					return err
				}
				p.Refill = keyward.SetTo(*r)
			}
			if noRefill {
				p.Refill = keyward.Clear[keyward.Refill]()
			}
			env, err := a.open(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer env.Close()
			k, err := env.svc.Update(env.ctx, args[0], p)
			if err != nil {
				return cliError(err, args[0])
			}
			pr := a.printer(o)
			if pr.json {
				return pr.printJSON(pr.view(k))
			}
			pr.details(k)
			return nil
		},
	}
	f.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "a new name")
	fl.BoolVar(&enable, "enable", false, "enable the key")
	fl.BoolVar(&disable, "disable", false, "disable the key (it can be enabled again)")
	fl.BoolVar(&noExpiry, "no-expiry", false, "remove the expiry")
	fl.BoolVar(&noRateLimit, "no-rate-limit", false, "remove the rate limit")
	fl.BoolVar(&unlimited, "unlimited", false, "remove the credit limit")
	fl.BoolVar(&noRefill, "no-refill", false, "remove the refill")
	fl.BoolVar(&clearScopes, "clear-scopes", false, "remove every scope")
	fl.BoolVar(&clearCIDRs, "clear-allowed-cidrs", false, "allow every address")
	return cmd
}

func (a *app) keysRevoke(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke a key, for good",
		Example: `  keyward keys revoke tJWllq6HlvDp2QDx`,
		Args:    exactArgs(1, "a key ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := a.open(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer env.Close()
			k, err := env.svc.Revoke(env.ctx, args[0])
			if err != nil {
				return cliError(err, args[0])
			}
			p := a.printer(o)
			if p.json {
				return p.printJSON(p.view(k))
			}
			fmt.Fprintf(p.w, "revoked %s (%s)\n", k.ID, k.Name)
			return nil
		},
	}
}

func (a *app) keysRotate(o *keysOptions) *cobra.Command {
	var grace, expiresIn, expiresAt string
	cmd := &cobra.Command{
		Use:   "rotate ID",
		Short: "Issue a successor and let the old key expire after a grace period",
		Long: `Issue a successor with a new id and secret and every setting copied. The old key
keeps working for the grace period (default 1h; 0s ends it now), so clients can switch
without downtime. Prints the new secret, once.`,
		Example: `  keyward keys rotate tJWllq6HlvDp2QDx --grace-period 24h`,
		Args:    exactArgs(1, "a key ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p keyward.RotateParams
			if grace != "" {
				d, err := time.ParseDuration(grace)
				if err != nil {
					return usagef("--grace-period %q: want a Go duration, e.g. 24h", grace)
				}
				p.GracePeriod = keyward.Ptr(keyward.Duration(d))
			}
			var err error
			if p.ExpiresIn, p.ExpiresAt, err = parseExpiry(expiresIn, expiresAt); err != nil {
				return err
			}
			env, err := a.open(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer env.Close()
			iss, err := env.svc.Rotate(env.ctx, args[0], p)
			if err != nil {
				return cliError(err, args[0])
			}
			return a.printer(o).issued(iss, a.stderr)
		},
	}
	cmd.Flags().StringVar(&grace, "grace-period", "", "how long the old key keeps working (default 1h)")
	cmd.Flags().StringVar(&expiresIn, "expires-in", "", "expiry of the new key, as a Go duration")
	cmd.Flags().StringVar(&expiresAt, "expires-at", "", "expiry of the new key, as an RFC 3339 time")
	return cmd
}

func (a *app) keysDelete(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID",
		Short:   "Delete a key (its usage and audit entries stay)",
		Example: `  keyward keys delete tJWllq6HlvDp2QDx`,
		Args:    exactArgs(1, "a key ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := a.open(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer env.Close()
			if err := env.svc.Delete(env.ctx, args[0]); err != nil {
				return cliError(err, args[0])
			}
			p := a.printer(o)
			if p.json {
				return p.printJSON(map[string]string{"deleted": args[0]})
			}
			fmt.Fprintf(p.w, "deleted %s\n", args[0])
			return nil
		},
	}
}

func (a *app) keysVerify(o *keysOptions) *cobra.Command {
	var scopes []string
	var cost int64
	var clientIP string
	cmd := &cobra.Command{
		Use:   "verify KEY",
		Short: "Verify a key as the server would (exit status 0 if valid, 1 if not)",
		Long: `Verify a key as the server would, spending its cost (default 1; --cost 0 checks
without spending). Give - to read the key from standard input, so it stays out of your
shell history. Exit status 0 if the outcome is VALID, 1 otherwise.`,
		Example: `  keyward keys verify - --scope invoices:read < key.txt
  keyward keys verify "$KEY" --cost 0 -o json`,
		Args: exactArgs(1, "a KEY (or - for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := args[0]
			if key == "-" {
				line, err := bufio.NewReader(a.stdin).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				key = strings.TrimSpace(line)
			}
			req := keyward.VerifyRequest{Key: key, Scopes: scopes}
			if cmd.Flags().Changed("cost") {
				if cost < 0 {
					return usagef("--cost must be at least 0")
				}
				req.Cost = &cost
			}
			if clientIP != "" {
				ip, err := netip.ParseAddr(clientIP)
				if err != nil {
					return usagef("--client-ip %q is not an IP address", clientIP)
				}
				req.ClientIP = ip
			}
			env, err := a.open(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer env.Close()
			res, err := env.svc.Verify(env.ctx, req)
			if err != nil {
				return err
			}
			p := a.printer(o)
			if p.json {
				out := map[string]any{"valid": res.Valid(), "code": res.Outcome.String()}
				if res.Key != nil {
					out["key"] = p.view(res.Key)
				}
				if res.MissingScope != "" {
					out["missing_scope"] = res.MissingScope
				}
				if err := p.printJSON(out); err != nil {
					return err
				}
			} else {
				msg := res.Outcome.String()
				if res.Key != nil {
					msg += fmt.Sprintf(" (key %s, %s)", res.Key.ID, res.Key.Name)
				}
				if res.MissingScope != "" {
					msg += ": missing scope " + res.MissingScope
				}
				fmt.Fprintln(p.w, msg)
			}
			if !res.Valid() {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&scopes, "scope", nil, "a required scope (repeat for more; all are needed)")
	cmd.Flags().Int64Var(&cost, "cost", 1, "units of rate limit and credits to spend; 0 checks without spending")
	cmd.Flags().StringVar(&clientIP, "client-ip", "", "the caller's address, for keys with allowed CIDRs")
	return cmd
}

// exported is one line of keys export: the key, and its hash with
// --with-hashes.
type exported struct {
	*keyward.Key
	Hash string `json:"hash,omitempty"`
	// Status is accepted on import (the API's key objects carry it) and ignored.
	Status string `json:"status,omitempty"`
}

func (a *app) keysExport(o *keysOptions) *cobra.Command {
	var withHashes bool
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every key as JSON lines (never secrets)",
		Long: `Write every key as one JSON object per line. Secrets are never stored, so never
exported. With --with-hashes each line also carries the key's hash string, which keys
import needs to recreate keys that still verify (with the same pepper): treat such a
file like the database itself.`,
		Example: `  keyward keys export > inventory.jsonl
  keyward keys export --with-hashes --database-url sqlite:old.db | keyward keys import - --database-url postgres://...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := a.open(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer env.Close()
			w := bufio.NewWriter(a.stdout)
			enc := json.NewEncoder(w)
			cursor := ""
			for {
				page, err := env.svc.List(env.ctx, keyward.ListParams{Cursor: cursor, Limit: 1000})
				if err != nil {
					return cliError(err, "")
				}
				for _, k := range page.Items {
					line := exported{Key: k}
					if withHashes {
						raw, err := env.store.Get(keyward.NewFreshContext(env.ctx), k.ID)
						if err != nil {
							return err
						}
						line.Hash = raw.Hash
					}
					if err := enc.Encode(line); err != nil {
						return err
					}
				}
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&withHashes, "with-hashes", false, "include each key's hash string (needed by keys import)")
	return cmd
}

func (a *app) keysImport(o *keysOptions) *cobra.Command {
	var progress bool
	cmd := &cobra.Command{
		Use:   "import [FILE|-]",
		Short: "Import keys from JSON lines made by keys export --with-hashes",
		Long: `Import keys from JSON lines made by keys export --with-hashes (standard input when
FILE is - or missing). Every line is checked before anything is written; keys whose id
exists already are skipped, so importing the same file twice changes nothing. The keys
verify only with the pepper they were hashed with. A progress bar shows on a terminal
(--progress forces it).`,
		Example: `  keyward keys import keys.jsonl --database-url postgres://keyward@db/keyward`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = a.stdin
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			env, err := a.open(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer env.Close()
			keys, err := readImport(in, env.svc)
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			if progress || isTerminal(a.stderr) {
				bar = progressbar.NewOptions(len(keys), progressbar.OptionSetWriter(a.stderr),
					progressbar.OptionSetDescription("importing"), progressbar.OptionShowCount(),
					progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.stderr) }))
			}
			res, err := env.svc.Import(env.ctx, keys, func(done int) {
				if bar != nil {
					bar.Set(done)
				}
			})
			if err != nil {
				return err
			}
			p := a.printer(o)
			if p.json {
				return p.printJSON(res)
			}
			fmt.Fprintf(p.w, "imported %d keys, skipped %d that exist\n", res.Created, res.Skipped)
			return nil
		},
	}
	cmd.Flags().BoolVar(&progress, "progress", false, "show a progress bar even when standard error is not a terminal")
	return cmd
}

// readImport reads and checks every line; nothing is written if one is bad.
func readImport(in io.Reader, svc *keyward.Service) ([]*keyward.Key, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var keys []*keyward.Key
	var probs []string
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e exported
		e.Key = &keyward.Key{}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			probs = append(probs, fmt.Sprintf("line %d: not a key exported by keyward: %v", n, err))
			continue
		}
		e.Key.Hash = e.Hash
		if err := svc.ValidateImport(e.Key); err != nil {
			probs = append(probs, fmt.Sprintf("line %d: %s", n, strings.TrimPrefix(err.Error(), "keyward: invalid input: ")))
			continue
		}
		if first, dup := seen[e.Key.ID]; dup {
			probs = append(probs, fmt.Sprintf("line %d: id %s already on line %d", n, e.Key.ID, first))
			continue
		}
		seen[e.Key.ID] = n
		keys = append(keys, e.Key)
		if len(probs) >= 20 {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("nothing imported:\n  %s", strings.Join(probs, "\n  "))
	}
	return keys, nil
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
)

// The key lifetime policy: serve's --default-key-lifetime and
// --max-key-lifetime, recorded in the database at start; keys list's
// filters by use and expiry; policy show and set.

// lifetimeFlag is a flag holding a Go duration, or nothing (nil) when not
// given.
type lifetimeFlag struct{ d *time.Duration }

func (f *lifetimeFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f *lifetimeFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	f.d = &d
	return nil
}

func (f *lifetimeFlag) Type() string { return "duration" }

// policyFlags are serve's flags of the key lifetime policy.
type policyFlags struct {
	defaultLifetime, maxLifetime lifetimeFlag
}

func (p *policyFlags) register(f *pflag.FlagSet) {
	f.Var(&p.defaultLifetime, "default-key-lifetime",
		`a key created without an expiry expires after this Go duration, e.g. 720h ("expires_in": "never" opts out unless a maximum is set); default none. Recorded in the database at start: run every instance with the same value`)
	f.Var(&p.maxLifetime, "max-key-lifetime",
		"no key may be given an expiry later than this Go duration from the time of the change, or none, e.g. 2160h; default none. Keys beyond it are listed, not changed. Recorded in the database at start")
}

// check adds the problems of the flags: a lifetime that is not positive,
// a default longer than the maximum.
func (p *policyFlags) check(add func(string, ...any)) {
	def, maxLife := p.defaultLifetime.d, p.maxLifetime.d
	for _, f := range []struct {
		name string
		d    *time.Duration
	}{{"--default-key-lifetime", def}, {"--max-key-lifetime", maxLife}} {
		if f.d != nil && *f.d <= 0 {
			add("%s must be a positive duration, got %v", f.name, *f.d)
		}
	}
	if def != nil && maxLife != nil && *maxLife > 0 && *def > *maxLife {
		add("--default-key-lifetime (%v) must not be longer than --max-key-lifetime (%v)", *def, *maxLife)
	}
}

// policy is the policy the flags set; the zero Policy without them.
func (p *policyFlags) policy() keyward.Policy {
	return keyward.Policy{DefaultKeyLifetime: p.defaultLifetime.d, MaxKeyLifetime: p.maxLifetime.d}
}

// recordPolicy makes p the policy of every instance and the CLI: the
// Service writes it (with an audit entry policy.update) only when it
// differs from the stored one.
func recordPolicy(ctx context.Context, svc *keyward.Service, p keyward.Policy, log *slog.Logger) error {
	actx := keyward.NewActorContext(ctx, keyward.Actor{ID: "serve"})
	changed, err := svc.SetPolicy(actx, p)
	if err != nil {
		return fmt.Errorf("recording the key lifetime policy: %w", err)
	}
	log.Info("key lifetime policy", "default_key_lifetime", lifetimeText(p.DefaultKeyLifetime),
		"max_key_lifetime", lifetimeText(p.MaxKeyLifetime), "changed", changed)
	return nil
}

// lifetimeText writes a lifetime of the policy for people ("720h (30
// days)", "90m"), or "none".
func lifetimeText(d *time.Duration) string {
	if d == nil {
		return "none"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	switch days := *d / (24 * time.Hour); {
	case *d%(24*time.Hour) != 0 || days == 0:
	case days == 1:
		s += " (1 day)"
	default:
		s += fmt.Sprintf(" (%d days)", days)
	}
	return s
}

// bootstrapExpiry gives the first admin key the maximum key lifetime when
// the policy sets a maximum but no default (the Service gives it the
// default otherwise), so that it can be created.
func bootstrapExpiry(ctx context.Context, svc *keyward.Service, p *keyward.CreateParams) error {
	pol, err := svc.Policy(ctx)
	if err != nil {
		return err
	}
	if pol.DefaultKeyLifetime == nil && pol.MaxKeyLifetime != nil {
		p.ExpiresIn = keyward.Ptr(keyward.Duration(*pol.MaxKeyLifetime))
	}
	return nil
}

// registerHygiene registers keys list's filters by use and expiry.
func registerHygiene(fl *pflag.FlagSet, p *keyward.ListParams) {
	fl.DurationVar(&p.UnusedFor, "unused-for", 0, "only keys not used for this Go duration (last used before, or never used and created before), e.g. 2160h")
	fl.DurationVar(&p.ExpiresWithin, "expires-within", 0, "only keys that expire within this Go duration from now (not those already expired), e.g. 168h")
	fl.BoolVar(&p.NeverUsed, "never-used", false, "only keys never used")
	fl.BoolVar(&p.NoExpiry, "no-expiry", false, "only keys without expiry")
}

// checkHygiene refuses a filter duration given but not positive.
func checkHygiene(cmd *cobra.Command, p keyward.ListParams) error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"unused-for", p.UnusedFor}, {"expires-within", p.ExpiresWithin}} {
		if cmd.Flags().Changed(f.name) && f.d <= 0 {
			return usagef("--%s must be a positive duration, e.g. 168h, got %v", f.name, f.d)
		}
	}
	return nil
}

func (a *app) policyCmd() *cobra.Command {
	o := &keysOptions{}
	return o.group("policy", "Show or set the key lifetime policy",
		`Show or set the key lifetime policy stored in the database named by --database-url:
the default key lifetime (a key created without an expiry expires after it) and the
maximum key lifetime (no create, update, rotate or import may give a key a later
expiry, or none). Every keyward serve on the database and every keys verb apply it.

keyward serve records its --default-key-lifetime and --max-key-lifetime at every
start, replacing the stored policy: give every instance the same flags, and use
policy set where no server runs, or to apply a policy before the servers restart
with it. GET /v1/policy shows the same. Output is a table for people; --output json
for scripts (the object of GET /v1/policy). Exit status: 0 on success, 1 on an error,
2 on bad usage.`,
		a.policyShow(o), a.policySet(o))
}

func (a *app) policyShow(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "show",
		Short:   "Show the key lifetime policy",
		Example: "  keyward policy show\n  keyward policy show -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withKeys(cmd.Context(), o, verb{noPepper: true}, func(env *keysEnv, p *printer) error {
				pol, err := env.svc.Policy(env.ctx)
				if err != nil {
					return err
				}
				return printPolicy(p, pol)
			})
		},
	}
}

func (a *app) policySet(o *keysOptions) *cobra.Command {
	var f policyFlags
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Replace the key lifetime policy",
		Long: `Replace the key lifetime policy with the lifetimes given: a lifetime not given is
none, so policy set alone removes both. Keys are not changed: those beyond a new maximum
are listed by keyward keys list --expires-within or --no-expiry. The change is written
to the audit log (policy.update) only if the policy differs.

keyward serve records its own --default-key-lifetime and --max-key-lifetime at every
start, replacing what policy set stored: start the servers with the same values.`,
		Example: `  keyward policy set --default-key-lifetime 720h --max-key-lifetime 2160h
  keyward policy set --default-key-lifetime 360h
  keyward policy set`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var probs []string
			f.check(func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) })
			if len(probs) > 0 {
				return usagef("%s", strings.Join(probs, "; "))
			}
			return a.withKeys(cmd.Context(), o, verb{noPepper: true}, func(env *keysEnv, p *printer) error {
				changed, err := env.svc.SetPolicy(env.ctx, f.policy())
				if err != nil {
					return err
				}
				if !changed {
					fmt.Fprintln(a.stderr, "the policy was already this one: nothing written")
				}
				return printPolicy(p, f.policy())
			})
		},
	}
	fl := cmd.Flags()
	fl.Var(&f.defaultLifetime, "default-key-lifetime", `a key created without an expiry expires after this Go duration, e.g. 720h ("--expires-in never" opts out unless a maximum is set); default none`)
	fl.Var(&f.maxLifetime, "max-key-lifetime", "no key may be given an expiry later than this Go duration from the time of the change, or none, e.g. 2160h; default none")
	return cmd
}

// printPolicy prints pol as a table, or as the object of GET /v1/policy.
func printPolicy(p *printer, pol keyward.Policy) error {
	if p.json {
		return p.printJSON(pol)
	}
	p.table([]string{"SETTING", "VALUE"}, [][]string{
		{"default key lifetime", lifetimeText(pol.DefaultKeyLifetime)},
		{"max key lifetime", lifetimeText(pol.MaxKeyLifetime)},
	})
	return nil
}

// neverText is what --expires-in takes for no expiry.
const neverText = "never"

// parseExpiresIn parses --expires-in: a Go duration, or "never".
func parseExpiresIn(s string) (*keyward.Duration, error) {
	if strings.EqualFold(s, neverText) {
		return keyward.Ptr(keyward.Never), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return nil, usagef("--expires-in %q: want a Go duration, e.g. 720h, or never", s)
	}
	return keyward.Ptr(keyward.Duration(v)), nil
}

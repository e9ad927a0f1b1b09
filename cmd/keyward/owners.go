package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func (a *app) ownersCmd() *cobra.Command {
	o := &keysOptions{}
	n := ownerRecords()
	return o.group("owners", "Manage owner records: rate limits and credits shared by an owner's keys",
		`Manage owner records straight in the database named by --database-url, as keys does.

A key's --owner is a free-form string. An owner record of the same name is optional;
when it exists, its rate limits count across all the keys that carry its name, and its
credits are spent by all of them, whenever the keys were created. Deleting the record
ends the shared limits and credits; the keys keep their owner string.

Changes reach running servers within about a second (they follow the database's
change log), or at once with the same --redis-url. Owners need no pepper. Output is a table for people; --output json for
scripts (the objects of the HTTP API). Exit status: 0 on success, 1 on an error, 2 on
bad usage.`,
		a.ownersPut(o, n),
		n.getCmd(a, o, "Show an owner record, with how many keys carry its name", "  keyward owners get acme"),
		n.listCmd(a, o, "List owner records, by name", "  keyward owners list -q acme --all -o json"),
		a.ownersUpdate(o, n),
		n.deleteCmd(a, o, "Delete an owner record: its shared limits and credits end; the keys keep their owner", "  keyward owners delete acme"))
}

// ownerRecords is the owner records for the verbs that named serves.
func ownerRecords() *named[*keyward.Owner] {
	return &named[*keyward.Owner]{kind: kindOwner, arg: "an owner NAME", plural: "owner records",
		get: (*keyward.Service).GetOwner, list: (*keyward.Service).ListOwners, delete: (*keyward.Service).DeleteOwner,
		print: (*printer).owner, printList: (*app).printOwners}
}

// ownerFlags are the settings of owners put and update.
type ownerFlags struct {
	metadata, refill                    string
	rateLimits                          []string
	remaining                           int64
	noRateLimits, noRemaining, noRefill bool // update

	limits []keyward.NamedRateLimit // rateLimits, parsed
	raw    []string                 // the values of limits, in order
}

func (f *ownerFlags) register(cmd *cobra.Command, update bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.metadata, "metadata", "", `a JSON object, e.g. '{"plan":"pro"}'`)
	fl.StringArrayVar(&f.rateLimits, "rate-limit", nil, rateLimitUsage+"; counted across all the owner's keys")
	fl.StringVar(&f.refill, "refill", "", "reset the shared credits each day or month, e.g. daily:1000 or monthly:50000")
	if !update {
		fl.Int64Var(&f.remaining, "remaining", 0, "credits shared by the owner's keys (default none: each key's own credits only)")
		return
	}
	fl.Int64Var(&f.remaining, "remaining", 0, "set the shared credits to N (a top-up; a refill period starts now)")
	fl.BoolVar(&f.noRateLimits, "no-rate-limits", false, "remove every shared rate limit")
	fl.BoolVar(&f.noRemaining, "no-remaining", false, "stop counting credits at the owner")
	fl.BoolVar(&f.noRefill, "no-refill", false, "remove the refill")
}

// parse parses the flags that need it.
func (f *ownerFlags) parse() error {
	r, err := parseRateLimits(f.rateLimits)
	f.limits, f.raw = r.all()
	return err
}

// fields names the flags of the problems the Service finds in an owner.
func (f *ownerFlags) fields(name string) fieldFlags {
	return fieldFlags{"name": {flag: "NAME", values: []string{name}}, "rate_limits": {flag: "--rate-limit", values: f.raw}}
}

// putParams turns the flags of owners put into the Service's parameters.
func (f *ownerFlags) putParams(changed func(string) bool) (keyward.OwnerParams, error) {
	var p keyward.OwnerParams
	if err := f.parse(); err != nil {
		return p, err
	}
	p.RateLimits = f.limits
	if changed("metadata") {
		p.Metadata = json.RawMessage(f.metadata)
	}
	if changed("remaining") {
		p.Remaining = &f.remaining
	}
	if f.refill != "" {
		r, err := parseRefill(f.refill)
		if err != nil {
			return p, err
		}
		p.Refill = r
	}
	return p, nil
}

// update turns the flags of owners update into the Service's parameters;
// the settings of flags not given stay as they are.
func (f *ownerFlags) update(changed func(string) bool) (keyward.OwnerUpdate, error) {
	var p keyward.OwnerUpdate
	if err := f.parse(); err != nil {
		return p, err
	}
	if err := contradiction(changed, [2]string{"rate-limit", "no-rate-limits"}, [2]string{"remaining", "no-remaining"}, [2]string{"refill", "no-refill"}); err != nil {
		return p, err
	}
	if changed("metadata") {
		p.Metadata = json.RawMessage(f.metadata)
	}
	if changed("rate-limit") || f.noRateLimits {
		limits := append([]keyward.NamedRateLimit{}, f.limits...)
		p.RateLimits = &limits
	}
	var err error
	p.Remaining, p.Refill, err = creditUpdate(changed("remaining"), f.remaining, f.noRemaining, f.refill, f.noRefill)
	return p, err
}

func (a *app) ownersPut(o *keysOptions, n *named[*keyward.Owner]) *cobra.Command {
	var f ownerFlags
	cmd := &cobra.Command{
		Use:   "put NAME",
		Short: "Create or replace an owner record",
		Long: `Create the owner record NAME, or replace it: settings not given take their defaults
(no metadata, no shared rate limits, no shared credits). owners update changes some.`,
		Example: `  keyward owners put acme --rate-limit daily=1000/24h --remaining 5000 --refill monthly:5000
  keyward owners put acme --metadata '{"plan":"pro"}' -o json`,
		Args: exactArgs(1, "an owner NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			params, err := f.putParams(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			return a.withKeys(cmd.Context(), o, n.verb(args[0], f.fields(args[0])), func(env *keysEnv, p *printer) error {
				rec, created, err := env.svc.PutOwner(env.ctx, args[0], params)
				if err != nil {
					return err
				}
				if !p.json {
					what := "replaced owner %s: settings not given took their defaults\n"
					if created {
						what = "created owner %s\n"
					}
					fmt.Fprintf(a.stderr, what, args[0])
				}
				return p.owner(rec)
			})
		},
	}
	f.register(cmd, false)
	return cmd
}

func (a *app) ownersUpdate(o *keysOptions, n *named[*keyward.Owner]) *cobra.Command {
	var f ownerFlags
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change some settings of an owner record (e.g. top up its credits)",
		Long: `Change the settings given as flags; the others stay. --rate-limit replaces the whole
list of shared limits; --remaining sets the shared credits (a top-up).`,
		Example: `  keyward owners update acme --remaining 10000
  keyward owners update acme --rate-limit burst=50/1s --rate-limit daily=5000/24h`,
		Args: exactArgs(1, "an owner NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			params, err := f.update(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			return a.withKeys(cmd.Context(), o, n.verb(args[0], f.fields(args[0])), func(env *keysEnv, p *printer) error {
				rec, err := env.svc.UpdateOwner(env.ctx, args[0], params)
				if err != nil {
					return err
				}
				return p.owner(rec)
			})
		},
	}
	f.register(cmd, true)
	return cmd
}

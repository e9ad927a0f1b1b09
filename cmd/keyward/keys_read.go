package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
)

func (a *app) keysList(o *keysOptions) *cobra.Command {
	var params keyward.ListParams
	var status, pepper string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List keys, newest first",
		Long: `List keys, newest first, a page at a time (--all for every page).

--pepper-id ID lists the keys whose hash names that pepper, whatever their hash scheme
(HMAC-SHA256, Argon2id or bcrypt): the keys that stop verifying when the pepper is
removed, unless a server rehashes them first. It reads every page. keyward peppers
shows the ids of the configured peppers and how many keys each one hashes.

--unused-for, --expires-within, --never-used and --no-expiry find the keys that deserve
a look: not used for a while (or never, and created before that), about to expire,
never used, or without expiry. They go with --status active to leave out the keys
already revoked, disabled or expired.`,
		Example: `  keyward keys list --owner team-billing --status active
  keyward keys list -q billing --all -o json
  keyward keys list --pepper-id Qm3xZ0aB
  keyward keys list --status active --unused-for 2160h --all
  keyward keys list --expires-within 168h -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			params.Status = keyward.Status(status)
			if err := checkLimit(params.Limit); err != nil {
				return err
			}
			if err := checkHygiene(cmd, params); err != nil {
				return err
			}
			if cmd.Flags().Changed("pepper-id") && pepper == "" {
				return usagef("--pepper-id needs a pepper id (keyward peppers shows them)")
			}
			return a.withKeys(cmd.Context(), o, verb{ids: true}, func(env *keysEnv, p *printer) error {
				if pepper != "" {
					items, err := keysWithPepper(env, params, pepper)
					if err != nil {
						return err
					}
					return a.printList(p, items, "")
				}
				items, next, err := listKeys(env, params, all)
				if err != nil {
					return err
				}
				return a.printList(p, items, next)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&params.Owner, "owner", "", "only keys of this owner")
	fl.StringVar(&status, "status", "", "only keys in this status: active, disabled, revoked, expired")
	fl.StringVarP(&params.Query, "query", "q", "", "only keys whose name contains this, ignoring case")
	fl.IntVar(&params.Limit, "limit", 50, "keys per page, 1-1000")
	fl.StringVar(&params.Cursor, "cursor", "", "start after this cursor (printed after a full page)")
	fl.BoolVar(&all, "all", false, "every page")
	fl.StringVar(&pepper, "pepper-id", "", "only keys whose hash names this pepper id, of any scheme (reads every page)")
	registerHygiene(fl, &params)
	return cmd
}

// keysWithPepper returns every key that params selects and whose hash names
// the pepper with that id.
func keysWithPepper(env *keysEnv, params keyward.ListParams, id string) ([]*keyward.Key, error) {
	var out []*keyward.Key
	params.Limit = keyward.MaxPageSize // every page is read: --limit plays no part
	err := eachKey(env, params, func(k *keyward.Key) {
		if got, ok := keyhash.PepperID(k.Hash); ok && got == id {
			out = append(out, k)
		}
	})
	return out, err
}

// eachKey calls fn on every key params selects, page after page.
func eachKey(env *keysEnv, params keyward.ListParams, fn func(*keyward.Key)) error {
	for {
		page, err := env.svc.List(env.ctx, params)
		if err != nil {
			return err
		}
		for _, k := range page.Items {
			fn(k)
		}
		if page.NextCursor == "" {
			return nil
		}
		params.Cursor = page.NextCursor
	}
}

// listKeys returns the page params asks for, or with all every page from it
// on, and the cursor of the page that follows ("" after the last).
func listKeys(env *keysEnv, params keyward.ListParams, all bool) ([]*keyward.Key, string, error) {
	var items []*keyward.Key
	for {
		page, err := env.svc.List(env.ctx, params)
		if err != nil {
			return nil, "", err
		}
		items = append(items, page.Items...)
		params.Cursor = page.NextCursor
		if !all || params.Cursor == "" {
			return items, params.Cursor, nil
		}
	}
}

// printList prints keys as a JSON page or a table, and says on standard
// error when more follow.
func (a *app) printList(p *printer, items []*keyward.Key, next string) error {
	if p.ids {
		for _, k := range items {
			fmt.Fprintln(p.w, k.ID)
		}
		if next != "" {
			fmt.Fprintf(a.stderr, "more keys follow: --cursor %s (or --all)\n", next)
		}
		return nil
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
}

func (a *app) keysGet(o *keysOptions) *cobra.Command {
	return a.idCommand(o, "get", "Show a key", func(env *keysEnv, p *printer, id string) error {
		k, err := env.svc.Get(env.ctx, id)
		if err != nil {
			return err
		}
		return p.key(k)
	})
}

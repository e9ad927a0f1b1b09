package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
)

// Uses of a pepper id in keyward peppers.
const (
	pepperCurrent       = "current"        // the first configured pepper: new hashes name it
	pepperOlder         = "older"          // configured after the first: verifies, and keys are rehashed on use
	pepperNotConfigured = "not configured" // named by hashes, not configured: those keys do not verify
	pepperNone          = "no pepper"      // hashes made without a pepper
	pepperOtherScheme   = "other scheme"   // hashes of a scheme keyhash does not know
)

// pepperRow is one line of keyward peppers: a pepper id and the keys whose
// hash names it, by status.
type pepperRow struct {
	ID   string                   `json:"id"`
	Use  string                   `json:"use"`
	Keys map[keyward.Status]int64 `json:"keys"`
}

func (a *app) peppersCmd() *cobra.Command {
	o := &keysOptions{}
	cmd := &cobra.Command{
		Use:   "peppers",
		Short: "Show the configured peppers' ids and how many keys each one hashes",
		Long: `Show the ids of the configured peppers (KEYWARD_PEPPER, --pepper-file, or the file
beside a SQLite database), current first, and how many keys of the database have a
hash that names each one, by status, whatever the hash scheme. An id is derived from
the pepper and tells nothing about it; hash strings record it.

During a pepper rotation (KEYWARD_PEPPER=new,old) the servers rehash each key with the
new pepper the first time they verify it. The old pepper can go when no key that can
still verify (active, disabled or expired: an update can enable or extend it) is
counted on it; revoked keys never verify again. keyward keys list --pepper-id ID lists
them.

Lines also show pepper ids that hashes name but that are not configured (those keys
do not verify), hashes made without a pepper, and hashes of another scheme.`,
		Example: `  keyward peppers
  KEYWARD_PEPPER="$NEW,$OLD" keyward peppers -o json
  OLD_ID=$(keyward peppers -o id | head -n 1)   # the current pepper's id`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withKeys(cmd.Context(), o, verb{ids: true}, func(env *keysEnv, p *printer) error {
				rows, err := countPeppers(env)
				if err != nil {
					return err
				}
				return a.printPeppers(p, rows)
			})
		},
	}
	f := o.registerStore(cmd)
	f.StringVar(&o.pepperFile, "pepper-file", "", "file with the server's pepper(s) (default: KEYWARD_PEPPER, else <sqlite file>.pepper)")
	return cmd
}

// countPeppers counts every key of the database by the pepper its hash
// names and by status: a row per configured pepper (current first), then a
// row per other id or kind of hash found.
func countPeppers(env *keysEnv) ([]pepperRow, error) {
	var rows []pepperRow
	index := map[string]int{} // use + "\x00" + id -> row
	row := func(id, use string) int {
		if i, ok := index[use+"\x00"+id]; ok {
			return i
		}
		rows = append(rows, pepperRow{ID: id, Use: use, Keys: map[keyward.Status]int64{
			keyward.StatusActive: 0, keyward.StatusDisabled: 0, keyward.StatusExpired: 0, keyward.StatusRevoked: 0,
		}})
		index[use+"\x00"+id] = len(rows) - 1
		return len(rows) - 1
	}
	configured := map[string]int{}
	for i, p := range env.peppers {
		use := pepperOlder
		if i == 0 {
			use = pepperCurrent
		}
		configured[p.ID] = row(p.ID, use)
	}
	now := env.svc.Now()
	err := eachKey(env, keyward.ListParams{Limit: keyward.MaxPageSize}, func(k *keyward.Key) {
		id, ok := keyhash.PepperID(k.Hash)
		i, known := configured[id]
		switch {
		case !ok:
			i = row("-", pepperOtherScheme)
		case id == "-":
			i = row("-", pepperNone)
		case !known:
			i = row(id, pepperNotConfigured)
		}
		rows[i].Keys[k.Status(now)]++
	})
	return rows, err
}

// printPeppers prints the rows as a table, as JSON {"items": [...]}, or for
// --output id the ids of the configured peppers, current first.
func (a *app) printPeppers(p *printer, rows []pepperRow) error {
	if p.ids {
		for _, r := range rows {
			if r.Use == pepperCurrent || r.Use == pepperOlder {
				fmt.Fprintln(p.w, r.ID)
			}
		}
		return nil
	}
	if p.json {
		return p.printJSON(struct {
			Items []pepperRow `json:"items"`
		}{rows})
	}
	statuses := []keyward.Status{keyward.StatusActive, keyward.StatusDisabled, keyward.StatusExpired, keyward.StatusRevoked}
	table := make([][]string, len(rows))
	missing := false
	for i, r := range rows {
		table[i] = []string{r.ID, r.Use}
		for _, s := range statuses {
			table[i] = append(table[i], strconv.FormatInt(r.Keys[s], 10))
		}
		missing = missing || r.Use == pepperNotConfigured
	}
	p.table([]string{"PEPPER", "USE", "ACTIVE", "DISABLED", "EXPIRED", "REVOKED"}, table)
	if missing {
		fmt.Fprintln(a.stderr, "keys whose pepper is not configured do not verify: add that pepper after the current one, or rotate those keys (keyward keys list --pepper-id ID)")
	}
	return nil
}

package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
)

// legacyFlags are the flags of keys import that read another system's
// database (DESIGN section 12).
type legacyFlags struct {
	fromKeyshield      string
	pepperFile         string
	format             string
	checkKeys          string
	noPepperCheck      bool
	fromSimpleSecurity string
	expirationDays     int
	table              string
	set                func(name string) bool // whether a flag was given
}

func (lf *legacyFlags) register(f *pflag.FlagSet) {
	f.StringVar(&lf.fromKeyshield, "from-keyshield", "", "import keyshield's (fastapi-api-key's) keys from this database: a SQLite file or a postgres:// URL")
	f.StringVar(&lf.pepperFile, "keyshield-pepper-file", "", "file holding keyshield's pepper (needed with --from-keyshield)")
	f.StringVar(&lf.format, "keyshield-format", "ak_v1-", "keyshield's key prefix followed by its separator")
	f.StringVar(&lf.checkKeys, "keyshield-check-keys", "", "file of keyshield keys you hold, one per line, to check the pepper before importing")
	f.BoolVar(&lf.noPepperCheck, "no-pepper-check", false, "import without checking the pepper, and without the warning that says so (a wrong pepper makes keys that never verify)")
	f.StringVar(&lf.fromSimpleSecurity, "from-simple-security", "", "import fastapi_simple_security's keys from this SQLite file")
	f.IntVar(&lf.expirationDays, "simple-security-expiration-days", 15, "for tables with creation_date: days a key lived (FAST_API_SIMPLE_SECURITY_AUTOMATIC_EXPIRATION)")
	f.StringVar(&lf.table, "source-table", "", "table to read (default api_keys for keyshield, fastapi_simple_security for it)")
	lf.set = func(name string) bool { return f.Changed(name) }
}

// given reports whether the import reads another system's database.
func (lf *legacyFlags) given() bool {
	return lf.set("from-keyshield") || lf.set("from-simple-security")
}

// stray returns a usage error when a flag of these imports is given to an
// import of keyward's own export.
func (lf *legacyFlags) stray() error {
	for _, name := range []string{"keyshield-pepper-file", "keyshield-format", "keyshield-check-keys", "no-pepper-check",
		"simple-security-expiration-days", "source-table"} {
		if lf.set(name) {
			return usagef("--%s goes with --from-keyshield or --from-simple-security", name)
		}
	}
	return nil
}

// check checks the flags before anything is opened.
func (lf *legacyFlags) check(args []string) error {
	ks, ss := lf.set("from-keyshield"), lf.set("from-simple-security")
	switch {
	case len(args) > 0:
		return usagef("give a FILE of keys exported by keyward or --from-keyshield/--from-simple-security, not both")
	case ks && ss:
		return usagef("--from-keyshield and --from-simple-security go in separate runs")
	case ss:
		for _, name := range []string{"keyshield-pepper-file", "keyshield-format", "keyshield-check-keys", "no-pepper-check"} {
			if lf.set(name) {
				return usagef("--%s is for --from-keyshield", name)
			}
		}
		if lf.expirationDays < 1 {
			return usagef("--simple-security-expiration-days must be at least 1, got %d", lf.expirationDays)
		}
		return nil
	}
	if lf.set("simple-security-expiration-days") {
		return usagef("--simple-security-expiration-days is for --from-simple-security")
	}
	if lf.pepperFile == "" {
		return usagef("--from-keyshield needs --keyshield-pepper-file: keyshield's hashes verify only with its pepper (an app that set none used %q)", keyshieldPlaceholder)
	}
	if lf.checkKeys != "" && lf.noPepperCheck {
		return usagef("--keyshield-check-keys checks the pepper and --no-pepper-check skips the check: give one")
	}
	_, err := parseKeyshieldFormat(lf.format)
	return err
}

// importLegacy runs keys import --from-keyshield or --from-simple-security:
// the other system's database is read and checked first, then keyward's is
// opened (and set up if it is a new SQLite file) and the keys stored in one
// transaction.
func (a *app) importLegacy(ctx context.Context, o *keysOptions, lf *legacyFlags, args []string, progress bool) error {
	if err := lf.check(args); err != nil {
		return err
	}
	if _, _, err := o.check(false); err != nil {
		return err
	}
	if lf.set("from-keyshield") {
		src, err := openLegacySource(ctx, "--from-keyshield", lf.fromKeyshield)
		if err != nil {
			return err
		}
		defer src.Close()
		return a.importKeyshield(ctx, o, lf, src, progress)
	}
	src, err := openLegacySource(ctx, "--from-simple-security", lf.fromSimpleSecurity)
	if err != nil {
		return err
	}
	defer src.Close()
	return a.importSimple(ctx, o, lf, src, progress)
}

func (a *app) importKeyshield(ctx context.Context, o *keysOptions, lf *legacyFlags, src *legacySource, progress bool) error {
	format, _ := parseKeyshieldFormat(lf.format)
	rows, err := readKeyshield(ctx, src, cmp.Or(lf.table, "api_keys"))
	if err != nil {
		return err
	}
	pepper, err := readKeyshieldPepper(lf.pepperFile)
	if err != nil {
		return err
	}
	overHex := false // without the check, bcrypt over the raw digest
	switch {
	case lf.checkKeys != "":
		if overHex, err = checkKeyshieldPepper(lf.checkKeys, format, pepper, rows); err != nil {
			return err
		}
	case !lf.noPepperCheck:
		fmt.Fprintln(a.stderr, "warning: the pepper was not checked: keys hashed with another pepper would never verify. "+
			"Give --keyshield-check-keys FILE with one or more keys you hold (one per line) to check it before anything is written; "+
			"--no-pepper-check says you mean to skip it.")
	}
	return a.withKeys(ctx, o, verb{setUp: true, newPepper: true}, func(env *keysEnv, p *printer) error {
		imp, err := keyhash.NewKeyshieldImport(pepper, env.peppers[0])
		if err != nil {
			return err
		}
		if overHex {
			imp.BcryptOverHex()
		}
		plan := &legacyPlan{format: format}
		bar := a.importProgress(len(rows), progress)
		sample := ""
		for i, r := range rows {
			k, why := keyshieldKey(r, format, imp, env.svc.DefaultPrefix())
			if plan.add(env.svc, r.n, r.keyID, r.name, k, why) && sample == "" {
				sample = r.hash
			}
			bar(i + 1)
		}
		if err := plan.dummy(env, func() (string, error) { return imp.Dummy(sample) }); err != nil {
			return err
		}
		return plan.run(env, p)
	})
}

func (a *app) importSimple(ctx context.Context, o *keysOptions, lf *legacyFlags, src *legacySource, progress bool) error {
	rows, byCreation, err := readSimpleSecurity(ctx, src, cmp.Or(lf.table, "fastapi_simple_security"))
	if err != nil {
		return err
	}
	lifetime := time.Duration(lf.expirationDays) * 24 * time.Hour
	return a.withKeys(ctx, o, verb{setUp: true, newPepper: true}, func(env *keysEnv, p *printer) error {
		plan := &legacyPlan{format: keyward.LegacyFormat{Kind: keyward.LegacySimpleSecurity}}
		if byCreation {
			plan.note = fmt.Sprintf("the table has creation_date (an older fastapi_simple_security): keys without never_expire expire %d days after it (--simple-security-expiration-days)", lf.expirationDays)
		}
		bar := a.importProgress(len(rows), progress)
		for i, r := range rows {
			k, why := simpleKey(r, env.hasher, lifetime, env.svc.DefaultPrefix())
			id := ""
			if k != nil {
				id = k.ID
			}
			plan.add(env.svc, r.n, id, r.name, k, why)
			bar(i + 1)
		}
		return plan.run(env, p)
	})
}

// legacyPlan is what an import will write: the keys that passed every check
// and the rows refused, with why.
type legacyPlan struct {
	format  keyward.LegacyFormat
	keys    []*keyward.Key
	refused []refusal
	note    string
}

// refusal is a row that is not imported.
type refusal struct {
	Row    int    `json:"row"`
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason"`
}

// add checks k (or takes why it could not be made) and reports whether it
// will be imported.
func (pl *legacyPlan) add(svc *keyward.Service, row int, id, name string, k *keyward.Key, why string) bool {
	if why == "" {
		if err := svc.ValidateImport(k); err != nil {
			why = strings.TrimPrefix(err.Error(), "keyward: invalid input: ")
		}
	}
	if why != "" {
		pl.refused = append(pl.refused, refusal{Row: row, ID: id, Name: name, Reason: why})
		return false
	}
	pl.keys = append(pl.keys, k)
	return true
}

// dummy sets the format's dummy hash with hash, unless the format is
// recorded with one already (a later import of the same format keeps the
// first dummy) or nothing is imported.
func (pl *legacyPlan) dummy(env *keysEnv, hash func() (string, error)) error {
	if len(pl.keys) == 0 {
		return nil
	}
	formats, err := env.svc.LegacyFormats(env.ctx)
	if err != nil {
		return err
	}
	for _, f := range formats {
		if f.Kind == pl.format.Kind && f.Prefix == pl.format.Prefix && f.Separator == pl.format.Separator && f.Dummy != "" {
			return nil
		}
	}
	pl.format.Dummy, err = hash()
	return err
}

// refusedImport says that nothing was imported when the Service refused the
// keys as a whole (the maximum key lifetime of the policy): an error about
// the source's data (exit 1), not about the command line.
func refusedImport(err error) error {
	var ve *keyward.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	lines := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		lines[i] = p.Message
	}
	return fmt.Errorf("nothing imported:\n  %s", strings.Join(lines, "\n  "))
}

// run stores the keys (and records the format) unless there are none, and
// prints the counts.
func (pl *legacyPlan) run(env *keysEnv, p *printer) error {
	var res keyward.ImportResult
	if len(pl.keys) > 0 {
		var err error
		if res, err = env.svc.ImportLegacy(env.ctx, pl.format, pl.keys); err != nil {
			return refusedImport(err)
		}
	}
	if p.json {
		return p.printJSON(map[string]any{"format": pl.format.String(), "created": res.Created, "skipped": res.Skipped,
			"refused": append([]refusal{}, pl.refused...)})
	}
	if pl.note != "" {
		fmt.Fprintln(p.w, "note: "+pl.note)
	}
	fmt.Fprintf(p.w, "%s: imported %d keys, skipped %d that exist", pl.format, res.Created, res.Skipped)
	if len(pl.refused) == 0 {
		fmt.Fprintln(p.w)
		return nil
	}
	fmt.Fprintf(p.w, ", refused %d:\n", len(pl.refused))
	for _, r := range pl.refused {
		who := fmt.Sprintf("row %d", r.Row)
		if r.ID != "" {
			who += " (id " + r.ID + ")"
		}
		if r.Name != "" {
			who += fmt.Sprintf(" %q", r.Name)
		}
		fmt.Fprintf(p.w, "  %s: %s\n", who, r.Reason)
	}
	return nil
}

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
)

// exported is one line of keys export: the key, and its hash with
// --with-hashes.
type exported struct {
	*keyward.Key
	Hash string `json:"hash,omitempty"`
	// Status is accepted on import (the API's key objects carry it) and ignored.
	Status string `json:"status,omitempty"`
}

// formatsLine is the first line of an export with hashes from a database
// that accepts legacy key formats (keys imported from keyshield or
// fastapi_simple_security): keys import records them, so that those keys
// keep verifying with their original strings after the move.
type formatsLine struct {
	LegacyFormats []keyward.LegacyFormat `json:"legacy_formats"`
}

func (a *app) keysExport(o *keysOptions) *cobra.Command {
	var withHashes bool
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every key as JSON lines (never secrets)",
		Long: `Write every key as one JSON object per line. Secrets are never stored, so never
exported. With --with-hashes each line also carries the key's hash string, which keys
import needs to recreate keys that still verify (with the same pepper): treat such a
file like the database itself. A database that accepts the key formats of keyshield or
fastapi_simple_security (keys imported from them) writes those formats on a first line,
{"legacy_formats": [...]}, which keys import records with the keys.`,
		Example: `  keyward keys export > inventory.jsonl
  keyward keys export --with-hashes --database-url sqlite:old.db | keyward keys import - --database-url postgres://...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withKeys(cmd.Context(), o, verb{}, func(env *keysEnv, _ *printer) error {
				return exportKeys(env, a.stdout, withHashes)
			})
		},
	}
	cmd.Flags().BoolVar(&withHashes, "with-hashes", false, "include each key's hash string (needed by keys import)")
	return cmd
}

// exportKeys writes every key to out as JSON lines, with its hash string if
// withHashes.
func exportKeys(env *keysEnv, out io.Writer, withHashes bool) error {
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	if withHashes {
		formats, err := env.svc.LegacyFormats(env.ctx)
		if err != nil {
			return err
		}
		if len(formats) > 0 {
			if err := enc.Encode(formatsLine{LegacyFormats: formats}); err != nil {
				return err
			}
		}
	}
	cursor := ""
	for {
		page, err := env.svc.List(env.ctx, keyward.ListParams{Cursor: cursor, Limit: 1000})
		if err != nil {
			return err
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
			return w.Flush()
		}
		cursor = page.NextCursor
	}
}

func (a *app) keysImport(o *keysOptions) *cobra.Command {
	var progress bool
	lf := &legacyFlags{}
	cmd := &cobra.Command{
		Use:   "import [FILE|-]",
		Short: "Import keys exported by keyward, or from keyshield or fastapi_simple_security",
		Long: `Import keys from JSON lines made by keys export --with-hashes (standard input when
FILE is - or missing). Every line is checked before anything is written; keys whose id
exists already are skipped, so importing the same file twice changes nothing. The keys
verify only with the pepper they were hashed with: keys of a pepper this database is not
given are refused (nothing is imported) until it is given too, after the current one. A SQLite database that does not
exist yet is created and migrated (its pepper must be configured or beside it already).
A progress bar shows on a terminal (--progress forces it).

--from-keyshield and --from-simple-security move the keys of those FastAPI libraries
without reissuing any: their key strings keep verifying everywhere keyward verifies, on
every instance, with no flag (the formats are recorded in the database; a running
server accepts them within 30 s). keyshield's hashes are kept and upgraded to
keyward's hasher on each key's first use; its pepper is stored sealed with keyward's.
fastapi_simple_security's plaintext keys are hashed at once and never stored. Rows
keyward cannot use are refused with a reason; the others are written in one
transaction, and ids already present are skipped, so a second run imports nothing.
A new SQLite database gets a random pepper beside it, as with keys create.`,
		Example: `  keyward keys import keys.jsonl --database-url postgres://keyward@db/keyward
  keyward keys import --from-keyshield sqlite:///./keys.db --keyshield-pepper-file pepper.txt \
      --keyshield-check-keys my-keys.txt
  keyward keys import --from-keyshield postgres://app@db/app --keyshield-format acme. \
      --keyshield-pepper-file pepper.txt --keyshield-check-keys my-keys.txt
  keyward keys import --from-simple-security /app/sqlite.db`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if lf.given() {
				return a.importLegacy(cmd.Context(), o, lf, args, progress)
			}
			if err := lf.stray(); err != nil {
				return err
			}
			var in io.Reader = a.stdin
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			return a.withKeys(cmd.Context(), o, verb{setUp: true}, func(env *keysEnv, p *printer) error {
				keys, formats, err := readImport(in, env.svc)
				if err != nil {
					return err
				}
				if err := checkImportPeppers(keys, env.peppers); err != nil {
					return err
				}
				for _, f := range formats { // before the keys, so that they verify as soon as they land
					if err := env.svc.AddLegacyFormat(env.ctx, f); err != nil {
						return err
					}
				}
				res, err := env.svc.Import(env.ctx, keys, a.importProgress(len(keys), progress))
				if err != nil {
					return err
				}
				if p.json {
					return p.printJSON(res)
				}
				fmt.Fprintf(p.w, "imported %d keys, skipped %d that exist\n", res.Created, res.Skipped)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&progress, "progress", false, "show a progress bar even when standard error is not a terminal")
	lf.register(cmd.Flags())
	return cmd
}

// importProgress returns the progress callback of an import of n keys: a
// progress bar on standard error when it is a terminal or force is set,
// else nothing.
func (a *app) importProgress(n int, force bool) func(done int) {
	if !force && !isTerminal(a.stderr) {
		return func(int) {}
	}
	bar := progressbar.NewOptions(n, progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription("importing"), progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.stderr) }))
	return func(done int) { bar.Set(done) }
}

// checkImportPeppers refuses keys hashed with a pepper that this database
// is not given: they would never verify. Hashes of another scheme (kept
// from keyshield) and hashes made without a pepper pass.
func checkImportPeppers(keys []*keyward.Key, peppers []keyhash.Pepper) error {
	configured := map[string]bool{"-": true}
	for _, p := range peppers {
		configured[p.ID] = true
	}
	missing := map[string]int{}
	for _, k := range keys {
		if id, ok := keyhash.PepperID(k.Hash); ok && !configured[id] {
			missing[id]++
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(missing)) {
		parts = append(parts, fmt.Sprintf("%d keys are hashed with pepper %s", missing[id], id))
	}
	return fmt.Errorf("nothing imported: %s, which this database is not given (keyward peppers lists the ones it has): "+
		"those keys would never verify. Give that pepper too, after the current one (KEYWARD_PEPPER or --pepper-file), "+
		"or import into the database the keys came from", strings.Join(parts, "; "))
}

// readImport reads and checks every line; nothing is written if one is bad.
func readImport(in io.Reader, svc *keyward.Service) ([]*keyward.Key, []keyward.LegacyFormat, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var keys []*keyward.Key
	var formats []keyward.LegacyFormat
	var probs []string
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if n == 1 && strings.HasPrefix(line, `{"legacy_formats":`) {
			var fl formatsLine
			if err := json.Unmarshal([]byte(line), &fl); err != nil {
				probs = append(probs, fmt.Sprintf("line 1: not the legacy formats line of keys export: %v", err))
			}
			for i, f := range fl.LegacyFormats {
				if err := f.Validate(); err != nil {
					probs = append(probs, fmt.Sprintf("line 1: legacy format %d: %s", i+1, strings.TrimPrefix(err.Error(), "keyward: invalid input: ")))
				}
			}
			formats = fl.LegacyFormats
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
		return nil, nil, err
	}
	if len(probs) > 0 {
		return nil, nil, fmt.Errorf("nothing imported:\n  %s", strings.Join(probs, "\n  "))
	}
	return keys, formats, nil
}

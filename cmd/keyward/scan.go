package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

// scanOptions are the flags of keyward scan.
type scanOptions struct {
	check, revoke bool
	databaseURL   string
	redisURL      string
	output        string
}

// finding is a key found by keyward scan: where, and its public parts.
// The secret is never kept.
type finding struct {
	Path   string `json:"path"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Prefix string `json:"prefix"`
	ID     string `json:"id"`
	// Status is the key's status in the database with --check or --revoke:
	// active, disabled, revoked, expired, or unknown (no key with that id
	// and prefix).
	Status string `json:"status,omitempty"`
	// Revoked reports that this run revoked the key (--revoke).
	Revoked bool `json:"revoked,omitempty"`
	// Was is the status before this run revoked the key.
	Was string `json:"-"`
}

func (a *app) scanCmd() *cobra.Command {
	o := &scanOptions{}
	cmd := &cobra.Command{
		Use:   "scan [PATH...]",
		Short: "Find leaked keys in files, directories or standard input",
		Long: `Find every string in keyward's key format whose checksum is right in the files
and directories given (default: the current directory), or in standard input for "-".
Directories are read recursively; .git directories, symbolic links in them and binary
files (a NUL byte in the first 8 KiB, as git decides) are skipped. The checksum decides,
so text that only looks like a key is never reported.

Each key found is printed as path:line:column <prefix>_<id>_… (the column counts bytes
from 1); the secret is never printed. --check adds the key's status in --database-url
(active, disabled, revoked, expired, or unknown); --revoke also revokes every key found
that is not revoked yet, with "scan" as the actor in the audit log. Neither needs the
pepper. --output json prints one JSON object per key instead.

Exit status: 1 when a key is found (or on an error), 0 when none, 2 on bad usage: fit
for pre-commit hooks and CI.`,
		Example: `  keyward scan .
  git diff --cached --name-only --diff-filter=ACMR -z | xargs -0 -r keyward scan --
  git log -p --all | keyward scan -
  keyward scan --check --database-url postgres://keyward@db/keyward -o json src/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.scan(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.check, "check", false, "look each key up in --database-url and print its status")
	f.BoolVar(&o.revoke, "revoke", false, "revoke every key found that is not revoked yet (implies --check)")
	f.StringVar(&o.databaseURL, "database-url", "sqlite:keyward.db", "with --check or --revoke: sqlite:<path> or postgres://user@host/db")
	f.StringVar(&o.redisURL, "redis-url", "", "with --revoke: publish the change on this Redis, so running servers drop their cached copies at once")
	f.StringVarP(&o.output, "output", "o", "table", "table (path:line:column lines) or json (one object per line)")
	return cmd
}

// scan is keyward scan: it checks the arguments, opens the database if
// asked, and reports the keys in every path.
func (a *app) scan(ctx context.Context, o *scanOptions, paths []string) error {
	if o.output != "table" && o.output != "json" {
		return usagef("--output must be table or json, got %q", o.output)
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	if err := checkScanPaths(paths); err != nil {
		return err
	}
	s := &scanner{app: a, finder: newKeyFinder(), json: o.output == "json"}
	if o.check || o.revoke {
		db, err := a.openScanDB(ctx, o)
		if err != nil {
			return err
		}
		defer db.Close()
		s.db = db
	}
	for _, p := range paths {
		if err := s.scanPath(ctx, p); err != nil {
			return err
		}
	}
	switch {
	case s.found > 0:
		return &exitError{code: 1}
	case s.failed > 0:
		return fmt.Errorf("%d file(s) or directories could not be read", s.failed)
	}
	return nil
}

// checkScanPaths refuses paths that do not exist, and "-" twice.
func checkScanPaths(paths []string) error {
	stdin := 0
	for _, p := range paths {
		if p == "-" {
			if stdin++; stdin > 1 {
				return usagef(`"-" (standard input) given more than once`)
			}
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return usagef("%v", err)
		}
	}
	return nil
}

// scanner reports the keys in files as it finds them.
type scanner struct {
	app    *app
	finder *keyFinder
	db     *scanDB // nil without --check or --revoke
	json   bool
	found  int // keys found
	failed int // files or directories that could not be read
}

// scanPath scans standard input for "-", else a file, or a directory tree.
func (s *scanner) scanPath(ctx context.Context, path string) error {
	if path == "-" {
		return s.scanReader(ctx, "-", s.app.stdin)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return s.readError(err)
	}
	if !fi.IsDir() {
		return s.scanFile(ctx, path)
	}
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return s.readError(err)
		case ctx.Err() != nil:
			return ctx.Err()
		case d.Name() == ".git" && p != path:
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // a worktree's or submodule's pointer to its repository
		case !d.Type().IsRegular():
			return nil // directories are walked; links, devices and pipes skipped
		}
		return s.scanFile(ctx, p)
	})
}

func (s *scanner) scanFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return s.readError(err)
	}
	defer f.Close()
	return s.scanReader(ctx, path, f)
}

// scanReader reports the keys in r, named path. A failed read is reported
// and the scan goes on; a failed lookup or write ends it.
func (s *scanner) scanReader(ctx context.Context, path string, r io.Reader) error {
	var fatal error
	_, err := s.finder.find(ctx, r, func(line, col int, key []byte) error {
		fatal = s.report(path, line, col, key)
		return fatal
	})
	switch {
	case fatal != nil:
		return fatal
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil && path == "-":
		return s.readError(fmt.Errorf("reading standard input: %w", err))
	case err != nil:
		return s.readError(err)
	}
	return nil
}

// report prints the key found at path:line:col, with its status if asked.
func (s *scanner) report(path string, line, col int, key []byte) error {
	tok, err := keyward.Parse(string(key))
	if err != nil {
		return err // cannot happen: FindKeys reports keys that parse
	}
	s.found++
	f := &finding{Path: path, Line: line, Column: col, Prefix: strings.Clone(tok.Prefix), ID: strings.Clone(tok.ID)}
	if s.db != nil {
		if err := s.db.lookUp(f); err != nil {
			return err
		}
	}
	return s.print(f)
}

// readError reports a file or directory that could not be read and goes
// on with the others; the scan fails at the end.
func (s *scanner) readError(err error) error {
	fmt.Fprintln(s.app.stderr, "keyward:", err)
	s.failed++
	return nil
}

// print writes one finding: path:line:column prefix_id_… [status], or a
// JSON object.
func (s *scanner) print(f *finding) error {
	w := s.app.stdout
	if s.json {
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	line := fmt.Sprintf("%s:%d:%d %s_%s_…", f.Path, f.Line, f.Column, f.Prefix, f.ID)
	switch {
	case f.Revoked:
		line += " revoked (was " + f.Was + ")"
	case f.Status != "":
		line += " " + f.Status
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

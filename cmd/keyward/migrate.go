package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) migrateCmd() *cobra.Command {
	var databaseURL, pepperFile string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the database schema",
		Long: `Create the database schema, or bring it up to the version this keyward knows.
Each migration runs in a transaction; running it again changes nothing. A database
migrated by a newer keyward is refused and left untouched. keyward serve migrates
on start too.

For SQLite with no KEYWARD_PEPPER or --pepper-file, it also creates the random pepper
beside the database that keyward serve would create (keyward.db.pepper, 0600).`,
		Example: `  keyward migrate --database-url sqlite:keyward.db
  keyward migrate --database-url postgres://keyward@db/keyward`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.migrate(cmd.Context(), databaseURL, pepperFile)
		},
	}
	cmd.Flags().StringVar(&databaseURL, "database-url", "sqlite:keyward.db", "sqlite:<path> or postgres://user@host/db")
	cmd.Flags().StringVar(&pepperFile, "pepper-file", "", "file with the pepper(s), as for serve (SQLite: default <sqlite file>.pepper, created if missing)")
	return cmd
}

func (a *app) migrate(ctx context.Context, databaseURL, pepperFile string) error {
	u, err := parseDatabaseURL(databaseURL)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	missing := ""
	if u.kind == "sqlite" { // a PostgreSQL schema needs no pepper
		if _, missing, err = findPeppers(u, pepperSource{env: a.getenv("KEYWARD_PEPPER"), file: pepperFile}); err != nil {
			return &usageError{msg: err.Error()}
		}
	}
	s, err := openStore(ctx, u, openOptions{migrate: true})
	if err != nil {
		return err
	}
	defer s.Close()
	v, err := s.(interface {
		SchemaVersion(context.Context) (int, error)
	}).SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if missing != "" {
		if err := noKeysWithoutPepper(ctx, s, missing); err != nil {
			return err
		}
		if _, err := createPepper(missing, newLogger(a.stderr, "text", "info")); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.stdout, "schema at version %d\n", v)
	return nil
}

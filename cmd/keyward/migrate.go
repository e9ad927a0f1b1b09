package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) migrateCmd() *cobra.Command {
	var databaseURL string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the database schema",
		Long: `Create the database schema, or bring it up to the version this keyward knows.
Each migration runs in a transaction; running it again changes nothing. A database
migrated by a newer keyward is refused and left untouched. keyward serve migrates
on start too.`,
		Example: `  keyward migrate --database-url sqlite:keyward.db
  keyward migrate --database-url postgres://keyward@db/keyward`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := parseDatabaseURL(databaseURL)
			if err != nil {
				return &usageError{msg: err.Error()}
			}
			s, err := openStore(cmd.Context(), u, openOptions{migrate: true})
			if err != nil {
				return err
			}
			defer s.Close()
			v, err := s.(interface {
				SchemaVersion(context.Context) (int, error)
			}).SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "schema at version %d\n", v)
			return nil
		},
	}
	cmd.Flags().StringVar(&databaseURL, "database-url", "sqlite:keyward.db", "sqlite:<path> or postgres://user@host/db")
	return cmd
}

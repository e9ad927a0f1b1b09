package main

import (
	"github.com/spf13/cobra"
)

func (a *app) keysCreate(o *keysOptions) *cobra.Command {
	var f keyFlags
	var secretPath string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a key and print its secret, once",
		Example: `  keyward keys create "billing service" --owner team-billing --scope invoices:read --rate-limit 100/1m
  keyward keys create "acme production" --owner acme --role reader --rate-limit burst=10/1s --rate-limit daily=10000/24h
  keyward keys create ci-bot --expires-in 720h --remaining 1000 --refill monthly:1000 -o json
  ID=$(keyward keys create deploy-bot --secret-file key.txt -o id)`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			params, err := f.createParams(args[0], cmd.Flags().Changed)
			if err != nil {
				return err
			}
			sf, err := openSecretFile(o, secretPath)
			if err != nil {
				return err
			}
			defer sf.discard()
			return a.withKeys(cmd.Context(), o, verb{setUp: true, newPepper: true, fields: f.fields(), ids: true}, func(env *keysEnv, p *printer) error {
				iss, err := env.svc.Create(env.ctx, params)
				if err != nil {
					return err
				}
				if sf != nil {
					if err := sf.write(iss.Secret, iss.Key.ID); err != nil {
						return err
					}
				}
				return p.issued(iss, sf, a.stderr)
			})
		},
	}
	f.register(cmd, true)
	registerSecretFile(cmd, &secretPath)
	return cmd
}

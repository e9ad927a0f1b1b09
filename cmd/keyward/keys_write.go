package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func (a *app) keysUpdate(o *keysOptions) *cobra.Command {
	var f updateFlags
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change a key's settings",
		Long: `Change the settings given as flags; the others stay. --scope, --allowed-cidr,
--rate-limit and --role replace the whole list: --rate-limit 200/1m alone leaves the key
one limit, the default one. --no-rate-limit removes every rate limit, --no-roles every
role.`,
		Example: `  keyward keys update tJWllq6HlvDp2QDx --expires-in 720h --rate-limit 200/1m
  keyward keys update tJWllq6HlvDp2QDx --rate-limit burst=10/1s --rate-limit daily=10000/24h --role reader
  keyward keys update tJWllq6HlvDp2QDx --disable`,
		Args: exactArgs(1, "a key ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			params, err := f.params(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			return a.withKeys(cmd.Context(), o, verb{id: args[0], fields: f.fields(), ids: true}, func(env *keysEnv, p *printer) error {
				k, err := env.svc.Update(env.ctx, args[0], params)
				if err != nil {
					return err
				}
				return p.key(k)
			})
		},
	}
	f.register(cmd)
	return cmd
}

func (a *app) keysRevoke(o *keysOptions) *cobra.Command {
	return a.idCommand(o, "revoke", "Revoke a key, for good", func(env *keysEnv, p *printer, id string) error {
		k, err := env.svc.Revoke(env.ctx, id)
		if err != nil {
			return err
		}
		switch {
		case p.json:
			return p.printJSON(p.view(k))
		case p.ids:
			return p.key(k)
		}
		fmt.Fprintf(p.w, "revoked %s (%s)\n", k.ID, k.Name)
		return nil
	})
}

func (a *app) keysRotate(o *keysOptions) *cobra.Command {
	var grace, expiresIn, expiresAt, secretPath string
	cmd := &cobra.Command{
		Use:   "rotate ID",
		Short: "Issue a successor and let the old key expire after a grace period",
		Long: `Issue a successor with a new id and secret and every setting copied. The old key
keeps working for the grace period (default 1h; 0s ends it now), so clients can switch
without downtime. Prints the new secret, once (or writes it to --secret-file).`,
		Example: `  keyward keys rotate tJWllq6HlvDp2QDx --grace-period 24h
  NEW=$(keyward keys rotate "$ID" --secret-file new-key.txt -o id)`,
		Args: exactArgs(1, "a key ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var params keyward.RotateParams
			if grace != "" {
				d, err := time.ParseDuration(grace)
				if err != nil {
					return usagef("--grace-period %q: want a Go duration, e.g. 24h", grace)
				}
				params.GracePeriod = keyward.Ptr(keyward.Duration(d))
			}
			var err error
			if params.ExpiresIn, params.ExpiresAt, err = parseExpiry(expiresIn, expiresAt); err != nil {
				return err
			}
			sf, err := openSecretFile(o, secretPath)
			if err != nil {
				return err
			}
			defer sf.discard()
			return a.withKeys(cmd.Context(), o, verb{id: args[0], ids: true}, func(env *keysEnv, p *printer) error {
				iss, err := env.svc.Rotate(env.ctx, args[0], params)
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
	cmd.Flags().StringVar(&grace, "grace-period", "", "how long the old key keeps working (default 1h)")
	cmd.Flags().StringVar(&expiresIn, "expires-in", "", `expiry of the new key, as a Go duration, or "never" (refused under a maximum key lifetime); default: the old key's, shortened to the policy's lifetime`)
	cmd.Flags().StringVar(&expiresAt, "expires-at", "", "expiry of the new key, as an RFC 3339 time")
	registerSecretFile(cmd, &secretPath)
	return cmd
}

func (a *app) keysDelete(o *keysOptions) *cobra.Command {
	return a.idCommand(o, "delete", "Delete a key (its usage and audit entries stay)", func(env *keysEnv, p *printer, id string) error {
		if err := env.svc.Delete(env.ctx, id); err != nil {
			return err
		}
		switch {
		case p.json:
			return p.printJSON(map[string]string{"deleted": id})
		case p.ids:
			fmt.Fprintln(p.w, id)
			return nil
		}
		fmt.Fprintf(p.w, "deleted %s\n", id)
		return nil
	})
}

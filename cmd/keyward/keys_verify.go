package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func (a *app) keysVerify(o *keysOptions) *cobra.Command {
	var scopes []string
	var cost int64
	var clientIP string
	cmd := &cobra.Command{
		Use:   "verify KEY",
		Short: "Verify a key as the server would (exit status 0 if valid, 1 if not)",
		Long: `Verify a key as the server would, spending its cost (default 1; --cost 0 checks
without spending). Give - to read the key from standard input, so it stays out of your
shell history. Exit status 0 if the outcome is VALID, 1 otherwise.

A rate limit is counted in this command alone (each run starts with a full budget), or,
with --redis-url, in the budget the servers on that Redis share.

The key's hash stays as it is, even when it uses another scheme than --hasher or an
older pepper: the servers' --hasher and peppers are the deployment's policy, and a
server rehashes on use. --rehash replaces such a hash with one made by this command's
--hasher and current pepper.`,
		Example: `  keyward keys verify - --scope invoices:read < key.txt
  keyward keys verify "$KEY" --cost 0 -o json`,
		Args: exactArgs(1, "a KEY (or - for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := args[0]
			if key == "-" {
				line, err := bufio.NewReader(a.stdin).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				key = strings.TrimSpace(line)
			}
			req := keyward.VerifyRequest{Key: key, Scopes: scopes}
			if cmd.Flags().Changed("cost") {
				if cost < 0 {
					return usagef("--cost must be at least 0")
				}
				req.Cost = &cost
			}
			if clientIP != "" {
				ip, err := netip.ParseAddr(clientIP)
				if err != nil {
					return usagef("--client-ip %q is not an IP address", clientIP)
				}
				req.ClientIP = ip
			}
			return a.withKeys(cmd.Context(), o, verb{}, func(env *keysEnv, p *printer) error {
				res, err := env.svc.Verify(env.ctx, req)
				if err != nil {
					return err
				}
				if err := printVerdict(p, res); err != nil {
					return err
				}
				if !res.Valid() {
					return &exitError{code: 1}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVar(&scopes, "scope", nil, "a required scope (repeat for more; all are needed)")
	cmd.Flags().Int64Var(&cost, "cost", 1, "units of rate limit and credits to spend; 0 checks without spending")
	cmd.Flags().StringVar(&clientIP, "client-ip", "", "the caller's address, for keys with allowed CIDRs")
	cmd.Flags().BoolVar(&o.rehash, "rehash", false, "replace an outdated hash (other scheme than --hasher, older pepper) as a server would")
	return cmd
}

// printVerdict prints the outcome of a verification.
func printVerdict(p *printer, res keyward.Result) error {
	if p.json {
		out := map[string]any{"valid": res.Valid(), "code": res.Outcome.String()}
		if res.Key != nil {
			out["key"] = p.view(res.Key)
		}
		if res.MissingScope != "" {
			out["missing_scope"] = res.MissingScope
		}
		return p.printJSON(out)
	}
	msg := res.Outcome.String()
	if res.Key != nil {
		msg += fmt.Sprintf(" (key %s, %s)", res.Key.ID, res.Key.Name)
	}
	if res.MissingScope != "" {
		msg += ": missing scope " + res.MissingScope
	}
	fmt.Fprintln(p.w, msg)
	return nil
}

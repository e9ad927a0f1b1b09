package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func (a *app) rolesCmd() *cobra.Command {
	o := &keysOptions{}
	n := roleRecords()
	return o.group("roles", "Manage roles: named sets of scopes that keys get with --role",
		`Manage roles straight in the database named by --database-url, as keys does.

A role is a named set of scopes. A key with the role (keys create/update --role) has
the role's scopes as well as its own, and changing a role changes every key that has
it. A role cannot be deleted while a key has it.

Changes reach running servers within about a second (they follow the database's
change log), or at once with the same --redis-url. Roles need no pepper. Output is a table for people; --output json for
scripts (the objects of the HTTP API). Exit status: 0 on success, 1 on an error, 2 on
bad usage.`,
		a.rolesPut(o, n),
		n.getCmd(a, o, "Show a role", "  keyward roles get reader"),
		n.listCmd(a, o, "List roles, by name", "  keyward roles list -q invoices -o json"),
		n.deleteCmd(a, o, "Delete a role (refused while a key has it)", "  keyward roles delete reader"))
}

// roleRecords is the roles for the verbs that named serves.
func roleRecords() *named[*keyward.Role] {
	return &named[*keyward.Role]{kind: kindRole, arg: "a role NAME", plural: "roles",
		get: (*keyward.Service).GetRole, list: (*keyward.Service).ListRoles, delete: (*keyward.Service).DeleteRole,
		print: (*printer).role, printList: (*app).printRoles}
}

func (a *app) rolesPut(o *keysOptions, n *named[*keyward.Role]) *cobra.Command {
	var params keyward.RoleParams
	cmd := &cobra.Command{
		Use:   "put NAME",
		Short: "Create or replace a role",
		Long: `Create the role NAME, or replace it: its description and scopes become those given
(none if not given). Every key with the role changes with it.`,
		Example: `  keyward roles put reader --description "read-only access" --scope invoices:read --scope reports:read
  keyward roles put admin --scope "invoices:*" --scope "reports:*"`,
		Args: exactArgs(1, "a role NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fields := fieldFlags{"name": {flag: "NAME", values: args}, "scopes": {flag: "--scope", values: params.Scopes}}
			return a.withKeys(cmd.Context(), o, n.verb(args[0], fields), func(env *keysEnv, p *printer) error {
				r, created, err := env.svc.PutRole(env.ctx, args[0], params)
				if err != nil {
					return err
				}
				if !p.json {
					what := "replaced role %s\n"
					if created {
						what = "created role %s\n"
					}
					fmt.Fprintf(a.stderr, what, args[0])
				}
				return p.role(r)
			})
		},
	}
	cmd.Flags().StringVar(&params.Description, "description", "", "what the role is for")
	cmd.Flags().StringArrayVar(&params.Scopes, "scope", nil, "a scope the role grants (repeat for more); \"res:*\" grants every res: scope")
	return cmd
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func (a *app) rolesCmd() *cobra.Command {
	o := &keysOptions{}
	cmd := &cobra.Command{
		Use:   "roles",
		Short: "Manage roles: named sets of scopes that keys get with --role",
		Long: `Manage roles straight in the database named by --database-url, as keys does.

A role is a named set of scopes. A key with the role (keys create/update --role) has
the role's scopes as well as its own, and changing a role changes every key that has
it. A role cannot be deleted while a key has it.

Changes reach running servers within their --cache-ttl, or at once with the same
--redis-url. Roles need no pepper. Output is a table for people; --output json for
scripts (the objects of the HTTP API). Exit status: 0 on success, 1 on an error, 2 on
bad usage.`,
	}
	o.registerStore(cmd)
	cmd.AddCommand(a.rolesPut(o), a.rolesGet(o), a.rolesList(o), a.rolesDelete(o))
	return cmd
}

// roleVerb is what withKeys needs for a verb on the role named name.
func roleVerb(name string, fields fieldFlags) verb {
	return verb{id: name, kind: kindRole, noPepper: true, fields: fields}
}

func (a *app) rolesPut(o *keysOptions) *cobra.Command {
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
			return a.withKeys(cmd.Context(), o, roleVerb(args[0], fields), func(env *keysEnv, p *printer) error {
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

func (a *app) rolesGet(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "get NAME",
		Short:   "Show a role",
		Example: "  keyward roles get reader",
		Args:    exactArgs(1, "a role NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withKeys(cmd.Context(), o, roleVerb(args[0], nil), func(env *keysEnv, p *printer) error {
				r, err := env.svc.GetRole(env.ctx, args[0])
				if err != nil {
					return err
				}
				return p.role(r)
			})
		},
	}
}

func (a *app) rolesList(o *keysOptions) *cobra.Command {
	var l nameList
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List roles, by name",
		Example: "  keyward roles list -q invoices -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withKeys(cmd.Context(), o, verb{noPepper: true}, func(env *keysEnv, p *printer) error {
				items, next, err := listNames(l, func(params keyward.NameListParams) ([]*keyward.Role, string, error) {
					page, err := env.svc.ListRoles(env.ctx, params)
					return page.Items, page.NextCursor, err
				})
				if err != nil {
					return err
				}
				return a.printRoles(p, items, next)
			})
		},
	}
	l.register(cmd, "roles")
	return cmd
}

func (a *app) rolesDelete(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a role (refused while a key has it)",
		Example: "  keyward roles delete reader",
		Args:    exactArgs(1, "a role NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withKeys(cmd.Context(), o, roleVerb(args[0], nil), func(env *keysEnv, p *printer) error {
				if err := env.svc.DeleteRole(env.ctx, args[0]); err != nil {
					return err
				}
				return p.deleted("role", args[0])
			})
		},
	}
}

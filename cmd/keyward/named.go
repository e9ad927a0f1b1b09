package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

// named is a kind of record known by its name (owner records, roles): how
// its verbs name it and the Service methods they call. T is the record.
type named[T any] struct {
	kind   string // kindOwner or kindRole
	arg    string // the argument in usage errors: "an owner NAME"
	plural string // the records in list's flags: "owner records"
	get    func(svc *keyward.Service, ctx context.Context, name string) (T, error)
	list   func(svc *keyward.Service, ctx context.Context, params keyward.NameListParams) (keyward.NamePage[T], error)
	delete func(svc *keyward.Service, ctx context.Context, name string) error
	print  func(p *printer, rec T) error
	// printList prints a page of records and, for people, the cursor of
	// the next.
	printList func(a *app, p *printer, items []T, next string) error
}

// verb is what withKeys needs for a verb on the record named name.
func (n *named[T]) verb(name string, fields fieldFlags) verb {
	return verb{id: name, kind: n.kind, noPepper: true, fields: fields}
}

// getCmd is the verb "get NAME", which prints the record.
func (n *named[T]) getCmd(a *app, o *keysOptions, short, example string) *cobra.Command {
	return &cobra.Command{
		Use:     "get NAME",
		Short:   short,
		Example: example,
		Args:    exactArgs(1, n.arg),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withKeys(cmd.Context(), o, n.verb(args[0], nil), func(env *keysEnv, p *printer) error {
				rec, err := n.get(env.svc, env.ctx, args[0])
				if err != nil {
					return err
				}
				return n.print(p, rec)
			})
		},
	}
}

// listCmd is the verb "list", which prints a page of records by name (or
// every page with --all).
func (n *named[T]) listCmd(a *app, o *keysOptions, short, example string) *cobra.Command {
	var l nameList
	cmd := &cobra.Command{
		Use:     "list",
		Short:   short,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(l.params.Limit); err != nil {
				return err
			}
			return a.withKeys(cmd.Context(), o, verb{noPepper: true}, func(env *keysEnv, p *printer) error {
				items, next, err := listNames(l, func(params keyward.NameListParams) ([]T, string, error) {
					page, err := n.list(env.svc, env.ctx, params)
					return page.Items, page.NextCursor, err
				})
				if err != nil {
					return err
				}
				return n.printList(a, p, items, next)
			})
		},
	}
	l.register(cmd, n.plural)
	return cmd
}

// deleteCmd is the verb "delete NAME".
func (n *named[T]) deleteCmd(a *app, o *keysOptions, short, example string) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   short,
		Example: example,
		Args:    exactArgs(1, n.arg),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withKeys(cmd.Context(), o, n.verb(args[0], nil), func(env *keysEnv, p *printer) error {
				if err := n.delete(env.svc, env.ctx, args[0]); err != nil {
					return err
				}
				return p.deleted(n.kind, args[0])
			})
		},
	}
}

package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

// nameList is the flags of owners list and roles list.
type nameList struct {
	params keyward.NameListParams
	all    bool
}

func (l *nameList) register(cmd *cobra.Command, what string) {
	fl := cmd.Flags()
	fl.StringVarP(&l.params.Query, "query", "q", "", "only "+what+" whose name contains this, ignoring case")
	fl.IntVar(&l.params.Limit, "limit", 50, what+" per page, 1-1000")
	fl.StringVar(&l.params.Cursor, "cursor", "", "start after this cursor (printed after a full page)")
	fl.BoolVar(&l.all, "all", false, "every page")
}

// checkLimit refuses a --limit outside 1-1000 before anything is opened:
// the library reads 0 as "the default page", which a flag should not.
func checkLimit(n int) error {
	if n < 1 || n > keyward.MaxPageSize {
		return usagef("--limit: must be 1-%d, got %d", keyward.MaxPageSize, n)
	}
	return nil
}

// listNames returns the page l asks for, or with --all every page from it
// on, and the cursor of the page that follows ("" after the last).
func listNames[T any](l nameList, page func(keyward.NameListParams) ([]T, string, error)) ([]T, string, error) {
	items := []T{}
	params := l.params
	for {
		got, next, err := page(params)
		if err != nil {
			return nil, "", err
		}
		items = append(items, got...)
		params.Cursor = next
		if !l.all || next == "" {
			return items, next, nil
		}
	}
}

// printPage prints a page as the HTTP API does, {"items": [...],
// "next_cursor": "..."}.
func printPage[T any](p *printer, items []T, next string) error {
	return p.printJSON(struct {
		Items      []T    `json:"items"`
		NextCursor string `json:"next_cursor,omitempty"`
	}{items, next})
}

// more says on standard error that more records follow.
func (a *app) more(what, next string) {
	if next != "" {
		fmt.Fprintf(a.stderr, "more %s follow: --cursor %s (or --all)\n", what, next)
	}
}

// owner prints an owner record: its JSON object, or its details for people.
func (p *printer) owner(o *keyward.Owner) error {
	if p.json {
		return p.printJSON(o)
	}
	credits, refill := credits(o.Remaining, o.Refill, "not shared")
	p.fields([][2]string{
		{"name", o.Name}, {"keys", strconv.FormatInt(o.KeyCount, 10)}, {"rate limits", rateLimits(o.RateLimits)},
		{"credits", credits}, {"refill", refill}, {"metadata", string(o.Metadata)},
		{"created", p.when(&o.CreatedAt, "")}, {"updated", p.when(&o.UpdatedAt, "")},
	})
	return nil
}

func (a *app) printOwners(p *printer, items []*keyward.Owner, next string) error {
	if p.json {
		return printPage(p, items, next)
	}
	rows := make([][]string, len(items))
	for i, o := range items {
		credits, refill := credits(o.Remaining, o.Refill, "-")
		rows[i] = []string{o.Name, strconv.FormatInt(o.KeyCount, 10), rateLimits(o.RateLimits), credits, refill, relative(&o.UpdatedAt, p.now, "")}
	}
	p.table([]string{"NAME", "KEYS", "RATE LIMITS", "CREDITS", "REFILL", "UPDATED"}, rows)
	a.more("owner records", next)
	return nil
}

// role prints a role: its JSON object, or its details for people.
func (p *printer) role(r *keyward.Role) error {
	if p.json {
		return p.printJSON(r)
	}
	p.fields([][2]string{
		{"name", r.Name}, {"description", orDash(r.Description)}, {"scopes", orDash(strings.Join(r.Scopes, " "))},
		{"created", p.when(&r.CreatedAt, "")}, {"updated", p.when(&r.UpdatedAt, "")},
	})
	return nil
}

func (a *app) printRoles(p *printer, items []*keyward.Role, next string) error {
	if p.json {
		return printPage(p, items, next)
	}
	rows := make([][]string, len(items))
	for i, r := range items {
		rows[i] = []string{r.Name, orDash(strings.Join(r.Scopes, " ")), orDash(r.Description)}
	}
	p.table([]string{"NAME", "SCOPES", "DESCRIPTION"}, rows)
	a.more("roles", next)
	return nil
}

// deleted says that the owner record or role name is deleted.
func (p *printer) deleted(kind, name string) error {
	if p.json {
		return p.printJSON(map[string]string{"deleted": name})
	}
	fmt.Fprintf(p.w, "deleted %s %s\n", kind, name)
	return nil
}

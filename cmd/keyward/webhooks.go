package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func (a *app) webhooksCmd() *cobra.Command {
	o := &keysOptions{}
	return o.group("webhooks", "Manage webhook endpoints: where keyward serve sends signed events",
		`Manage webhook endpoints straight in the database named by --database-url, as keys does.

keyward serve POSTs each event (key.created, key.revoked, key.expiring, key.leaked, ...) to
every enabled endpoint that subscribes to its type, signed as Standard Webhooks v1 says
with the endpoint's secret (whsec_...), which webhooks create prints once. Failed
deliveries are retried for 24 hours with the same webhook-id. A running keyward serve on
the same database delivers what these verbs queue (webhooks test) within a second or so;
webhooks get shows the latest attempts.

Webhooks need no pepper. Output is a table for people; --output json for scripts (the
objects of the HTTP API). Exit status: 0 on success, 1 on an error, 2 on bad usage.`,
		a.webhooksCreate(o), a.webhooksList(o), a.webhooksGet(o), a.webhooksUpdate(o), a.webhooksDelete(o), a.webhooksTest(o))
}

// webhookVerb is what withKeys needs for a webhooks verb; fields names the
// flags its validation problems come from.
func webhookVerb(fields fieldFlags) verb { return verb{noPepper: true, fields: fields} }

// webhookError names the endpoint id in the Service's errors.
func webhookError(err error, id string) error {
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return fmt.Errorf("no webhook endpoint with id %q", id)
	case errors.Is(err, keyward.ErrConflict):
		return errors.New(strings.TrimSuffix(strings.TrimPrefix(err.Error(), "keyward: "), ": conflict"))
	}
	return err
}

// hookFlags are the settings of webhooks create and update.
type hookFlags struct {
	url, description string
	events           []string
	enable, disable  bool
}

func (f *hookFlags) register(cmd *cobra.Command, update bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.description, "description", "", "what the endpoint is for")
	fl.BoolVar(&f.disable, "disable", false, "the endpoint gets no new events until enabled; deliveries it already had wait")
	if !update {
		fl.StringArrayVar(&f.events, "event", []string{keyward.AllEvents}, `an event type to receive (repeat for more), or "*" for every type; one of `+strings.Join(keyward.EventTypes(), ", "))
		return
	}
	fl.StringVar(&f.url, "url", "", "the new URL")
	fl.StringArrayVar(&f.events, "event", nil, `replace the event types (repeat for more), or "*" for every type`)
	fl.BoolVar(&f.enable, "enable", false, "enable the endpoint: its waiting deliveries resume, new events reach it")
}

// fields names the flags of the problems the Service finds.
func (f *hookFlags) fields(url string) fieldFlags {
	return fieldFlags{"url": {flag: "URL", values: []string{url}}, "events": {flag: "--event", values: f.events}}
}

func (a *app) webhooksCreate(o *keysOptions) *cobra.Command {
	var f hookFlags
	cmd := &cobra.Command{
		Use:   "create URL",
		Short: "Add a webhook endpoint; its signing secret is printed once",
		Long: `Add an endpoint that receives the events of the types given with --event (every type by
default). The signing secret (whsec_...) is printed only this once: the receiver checks
each delivery's webhook-signature with it.`,
		Example: `  keyward webhooks create https://billing.example.com/hooks/keyward --event key.created --event key.revoked
  keyward webhooks create https://ops.example.com/keyward --description "on-call" -o json`,
		Args: exactArgs(1, "the endpoint's URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			params := keyward.WebhookParams{URL: args[0], Events: f.events, Description: f.description, Enabled: keyward.Ptr(!f.disable)}
			return a.withKeys(cmd.Context(), o, webhookVerb(f.fields(args[0])), func(env *keysEnv, p *printer) error {
				c, err := env.svc.CreateWebhook(env.ctx, params)
				if err != nil {
					return webhookError(err, "")
				}
				return p.createdWebhook(c, a.stderr)
			})
		},
	}
	f.register(cmd, false)
	return cmd
}

func (a *app) webhooksUpdate(o *keysOptions) *cobra.Command {
	var f hookFlags
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change a webhook endpoint's URL, event types, description, or enable or disable it",
		Example: `  keyward webhooks update wh_0123456789abcdef --event "*"
  keyward webhooks update wh_0123456789abcdef --disable`,
		Args: exactArgs(1, "a webhook endpoint ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := cmd.Flags().Changed
			if f.enable && f.disable {
				return usagef("--enable and --disable contradict each other")
			}
			var u keyward.WebhookUpdate
			if changed("url") {
				u.URL = &f.url
			}
			if changed("event") {
				u.Events = &f.events
			}
			if changed("description") {
				u.Description = &f.description
			}
			if f.enable || f.disable {
				u.Enabled = keyward.Ptr(f.enable)
			}
			if u == (keyward.WebhookUpdate{}) {
				return usagef("nothing to change: give --url, --event, --description, --enable or --disable")
			}
			fields := f.fields(f.url)
			fields["url"] = flagRef{flag: "--url", values: []string{f.url}}
			return a.withKeys(cmd.Context(), o, webhookVerb(fields), func(env *keysEnv, p *printer) error {
				w, err := env.svc.UpdateWebhook(env.ctx, args[0], u)
				if err != nil {
					return webhookError(err, args[0])
				}
				return p.webhook(w)
			})
		},
	}
	f.register(cmd, true)
	return cmd
}

func (a *app) webhooksList(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List webhook endpoints, oldest first",
		Example: "  keyward webhooks list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withKeys(cmd.Context(), o, webhookVerb(nil), func(env *keysEnv, p *printer) error {
				ws, err := env.svc.ListWebhooks(env.ctx)
				if err != nil {
					return err
				}
				return p.webhooks(ws)
			})
		},
	}
}

func (a *app) webhooksGet(o *keysOptions) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show a webhook endpoint and its latest delivery attempts",
		Long: `Show a webhook endpoint (never its secret) and its latest delivery attempts, newest
first: the event, the attempt number, the HTTP status (0 when no answer came), the error,
and when the next attempt is due. With -o json: {"webhook": {...}, "deliveries": [...]}.`,
		Example: `  keyward webhooks get wh_0123456789abcdef
  keyward webhooks get wh_0123456789abcdef --deliveries 100 -o json`,
		Args: exactArgs(1, "a webhook endpoint ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 0 || n > keyward.MaxPageSize {
				return usagef("--deliveries must be 0-%d, got %d", keyward.MaxPageSize, n)
			}
			return a.withKeys(cmd.Context(), o, webhookVerb(nil), func(env *keysEnv, p *printer) error {
				w, err := env.svc.GetWebhook(env.ctx, args[0])
				if err != nil {
					return webhookError(err, args[0])
				}
				attempts := []keyward.Attempt{}
				if n > 0 {
					page, err := env.svc.WebhookDeliveries(env.ctx, args[0], keyward.AttemptParams{Limit: n})
					if err != nil {
						return webhookError(err, args[0])
					}
					attempts = page.Items
				}
				return p.webhookWithDeliveries(w, attempts)
			})
		},
	}
	cmd.Flags().IntVar(&n, "deliveries", 10, "how many of the latest delivery attempts to show, 0-1000")
	return cmd
}

func (a *app) webhooksDelete(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID",
		Short:   "Delete a webhook endpoint, with its pending deliveries and its delivery log",
		Example: "  keyward webhooks delete wh_0123456789abcdef",
		Args:    exactArgs(1, "a webhook endpoint ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withKeys(cmd.Context(), o, webhookVerb(nil), func(env *keysEnv, p *printer) error {
				if err := env.svc.DeleteWebhook(env.ctx, args[0]); err != nil {
					return webhookError(err, args[0])
				}
				return p.deleted("webhook endpoint", args[0])
			})
		},
	}
}

func (a *app) webhooksTest(o *keysOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "test ID",
		Short: "Queue a webhook.test event for one endpoint",
		Long: `Queue a webhook.test event (data {}) for this endpoint alone. A running keyward serve on
the same database delivers it; webhooks get ID shows the attempt.`,
		Example: "  keyward webhooks test wh_0123456789abcdef",
		Args:    exactArgs(1, "a webhook endpoint ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withKeys(cmd.Context(), o, webhookVerb(nil), func(env *keysEnv, p *printer) error {
				e, err := env.svc.TestWebhook(env.ctx, args[0])
				if err != nil {
					return webhookError(err, args[0])
				}
				if p.json {
					return p.printJSON(map[string]string{"event_id": e.ID})
				}
				fmt.Fprintf(p.w, "queued webhook.test event %s for %s\n", e.ID, args[0])
				fmt.Fprintf(a.stderr, "A running keyward serve delivers it; see keyward webhooks get %s\n", args[0])
				return nil
			})
		},
	}
}

package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
)

// enabledText says whether an endpoint is enabled.
func enabledText(on bool) string {
	if on {
		return "yes"
	}
	return "no: no new events; pending deliveries wait"
}

// webhookFields prints one endpoint as aligned "field: value" lines.
func (p *printer) webhookFields(w *keyward.Webhook) {
	p.fields([][2]string{
		{"id", w.ID}, {"url", w.URL}, {"events", strings.Join(w.Events, " ")}, {"description", orDash(w.Description)},
		{"enabled", enabledText(w.Enabled)}, {"created", p.when(&w.CreatedAt, "")}, {"updated", p.when(&w.UpdatedAt, "")},
	})
}

// webhook prints an endpoint: its JSON object, or its details for people.
func (p *printer) webhook(w *keyward.Webhook) error {
	if p.json {
		return p.printJSON(w)
	}
	p.webhookFields(w)
	return nil
}

// createdWebhook prints a new endpoint and its secret, once: in JSON the
// answer of POST /v1/webhooks, {"webhook", "secret"}.
func (p *printer) createdWebhook(c keyward.CreatedWebhook, stderr io.Writer) error {
	if p.json {
		return p.printJSON(c)
	}
	p.webhookFields(c.Webhook)
	fmt.Fprintf(p.w, "\nsecret:        %s\n", c.Secret)
	fmt.Fprintln(stderr, "\nThis is the only time the signing secret is shown. Give it to the receiver now: it checks each delivery's webhook-signature with it.")
	return nil
}

// webhooks prints every endpoint: {"items": [...]} as GET /v1/webhooks, or
// a table.
func (p *printer) webhooks(ws []*keyward.Webhook) error {
	if p.json {
		return p.printJSON(struct {
			Items []*keyward.Webhook `json:"items"`
		}{ws})
	}
	rows := make([][]string, len(ws))
	for i, w := range ws {
		on := "yes"
		if !w.Enabled {
			on = "no"
		}
		rows[i] = []string{w.ID, w.URL, strings.Join(w.Events, " "), on, orDash(w.Description)}
	}
	p.table([]string{"ID", "URL", "EVENTS", "ENABLED", "DESCRIPTION"}, rows)
	return nil
}

// webhookWithDeliveries prints an endpoint and its latest attempts, newest
// first.
func (p *printer) webhookWithDeliveries(w *keyward.Webhook, attempts []keyward.Attempt) error {
	if p.json {
		return p.printJSON(struct {
			Webhook    *keyward.Webhook  `json:"webhook"`
			Deliveries []keyward.Attempt `json:"deliveries"`
		}{w, attempts})
	}
	p.webhookFields(w)
	fmt.Fprintln(p.w)
	if len(attempts) == 0 {
		fmt.Fprintln(p.w, "no delivery attempts yet")
		return nil
	}
	rows := make([][]string, len(attempts))
	for i, a := range attempts {
		status := "-"
		if a.Status != 0 {
			status = strconv.Itoa(a.Status)
		}
		next := "done"
		if a.NextAttemptAt != nil {
			next = relative(a.NextAttemptAt, p.now, "")
		}
		rows[i] = []string{relative(&a.At, p.now, ""), a.EventID, a.Type, strconv.Itoa(a.Attempt), status, orDash(a.Error), next}
	}
	p.table([]string{"AT", "EVENT", "TYPE", "ATTEMPT", "STATUS", "ERROR", "NEXT ATTEMPT"}, rows)
	return nil
}

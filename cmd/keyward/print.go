package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/keyward/keyward"
)

// printer writes results as tables or JSON.
type printer struct {
	w     io.Writer
	json  bool
	ids   bool // --output id: only key ids, one a line
	color bool
	now   time.Time
}

func (a *app) printer(o *keysOptions) *printer {
	return &printer{w: a.stdout, json: o.output == "json", ids: o.output == "id", color: isTerminal(a.stdout) && a.getenv("NO_COLOR") == "", now: time.Now()}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *printer) printJSON(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// keyView is a key as the CLI shows it in JSON (as the API does).
type keyView struct {
	*keyward.Key
	Status keyward.Status `json:"status"`
}

func (p *printer) view(k *keyward.Key) keyView { return keyView{Key: k, Status: k.Status(p.now)} }

func (p *printer) status(s keyward.Status) string {
	if !p.color {
		return string(s)
	}
	code := map[keyward.Status]string{keyward.StatusActive: "32", keyward.StatusDisabled: "33", keyward.StatusRevoked: "31", keyward.StatusExpired: "31"}[s]
	return "\x1b[" + code + "m" + string(s) + "\x1b[0m"
}

// relative says when t is from now, in words: "in 29 days", "3 minutes ago".
func relative(t *time.Time, now time.Time, never string) string {
	if t == nil {
		return never
	}
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	round := func(unit time.Duration) int { return int((d + unit/2) / unit) }
	var s string
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		s = plural(round(time.Second), "second")
	case d < time.Hour:
		s = plural(round(time.Minute), "minute")
	case d < 48*time.Hour:
		s = plural(round(time.Hour), "hour")
	case d < 60*24*time.Hour:
		s = plural(round(24*time.Hour), "day")
	case d < 730*24*time.Hour:
		s = plural(round(30*24*time.Hour), "month")
	default:
		s = plural(round(365*24*time.Hour), "year")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

func (p *printer) table(header []string, rows [][]string) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], visibleLen(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-visibleLen(c)+2))
			}
		}
		fmt.Fprintln(p.w, strings.TrimRight(b.String(), " "))
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}

// visibleLen is the width of s on a terminal: colour codes take no room.
func visibleLen(s string) int {
	n, esc := 0, false
	for _, r := range s {
		switch {
		case r == '\x1b':
			esc = true
		case esc && r == 'm':
			esc = false
		case !esc:
			n++
		}
	}
	return n
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rateLimits shows a list of limits: "default 100/1m0s, burst 10/1s", or
// "none".
func rateLimits(list []keyward.NamedRateLimit) string {
	if len(list) == 0 {
		return "none"
	}
	parts := make([]string, len(list))
	for i, l := range list {
		parts[i] = fmt.Sprintf("%s %d/%s", l.Name, l.Limit, time.Duration(l.Period))
	}
	return strings.Join(parts, ", ")
}

// credits shows remaining credits and their refill.
func credits(remaining *int64, refill *keyward.Refill, none string) (string, string) {
	c, r := none, "none"
	if remaining != nil {
		c = strconv.FormatInt(*remaining, 10)
	}
	if refill != nil {
		r = fmt.Sprintf("%d %s", refill.Amount, refill.Interval)
	}
	return c, r
}

// when shows a time relative to now and in full, or never for nil.
func (p *printer) when(t *time.Time, never string) string {
	if t == nil {
		return never
	}
	return relative(t, p.now, never) + " (" + t.UTC().Format(time.RFC3339) + ")"
}

// fields prints aligned "field: value" lines.
func (p *printer) fields(rows [][2]string) {
	for _, r := range rows {
		fmt.Fprintf(p.w, "%-14s %s\n", r[0]+":", r[1])
	}
}

// details prints one key as aligned "field: value" lines.
func (p *printer) details(k *keyward.Key) {
	credits, refill := credits(k.Remaining, k.Refill, "unlimited")
	when := p.when
	rows := [][2]string{
		{"id", k.ID}, {"name", k.Name}, {"status", p.status(k.Status(p.now))}, {"owner", orDash(k.Owner)},
		{"description", orDash(k.Description)}, {"prefix", k.Prefix}, {"scopes", orDash(strings.Join(k.Scopes, " "))},
		{"roles", orDash(strings.Join(k.Roles, " "))},
		{"rate limits", rateLimits(k.RateLimits)}, {"credits", credits}, {"refill", refill},
		{"allowed cidrs", orDash(strings.Join(k.AllowedCIDRs, " "))}, {"metadata", string(k.Metadata)},
		{"created", when(&k.CreatedAt, "")}, {"expires", when(k.ExpiresAt, "never")},
		{"last used", when(k.LastUsedAt, "never")}, {"revoked", when(k.RevokedAt, "no")},
	}
	if k.Replaces != nil {
		rows = append(rows, [2]string{"replaces", *k.Replaces})
	}
	if k.ReplacedBy != nil {
		rows = append(rows, [2]string{"replaced by", *k.ReplacedBy})
	}
	p.fields(rows)
}

// issued prints a new key and its secret, once; or, when the secret went to
// a --secret-file (sf not nil), the key and the file's name.
func (p *printer) issued(iss keyward.Issued, sf *secretFile, stderr io.Writer) error {
	switch {
	case p.ids:
		_, err := fmt.Fprintln(p.w, iss.Key.ID)
		return err
	case p.json && sf != nil:
		return p.printJSON(struct {
			Key        keyView `json:"key"`
			SecretFile string  `json:"secret_file"`
		}{p.view(iss.Key), sf.path})
	case p.json:
		return p.printJSON(struct {
			Key    keyView `json:"key"`
			Secret string  `json:"secret"`
		}{p.view(iss.Key), iss.Secret})
	}
	p.details(iss.Key)
	if sf != nil {
		fmt.Fprintf(p.w, "\nsecret:        written to %s (mode 0600)\n", sf.path)
		fmt.Fprintf(stderr, "\n%s holds the only copy of the secret: keyward keeps only its hash.\n", sf.path)
		return nil
	}
	fmt.Fprintf(p.w, "\nsecret:        %s\n", iss.Secret)
	fmt.Fprintln(stderr, "\nThis is the only time the secret is shown: keyward keeps only its hash. Store it now.")
	return nil
}

// key prints one key: its JSON object, its id, or its details for people.
func (p *printer) key(k *keyward.Key) error {
	switch {
	case p.json:
		return p.printJSON(p.view(k))
	case p.ids:
		_, err := fmt.Fprintln(p.w, k.ID)
		return err
	}
	p.details(k)
	return nil
}

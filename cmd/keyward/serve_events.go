package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/webhook"
)

// The events side of keyward serve: the webhook dispatcher, the expiry
// warnings and the leak endpoint.

// expiryCheckInterval is how often keyward serve looks for keys coming
// within --expiry-warning of their expiry.
const expiryCheckInterval = time.Minute

// eventFlags registers the flags of events and leak reports.
func (c *serveConfig) eventFlags(f *pflag.FlagSet) {
	f.DurationVar(&c.expiryWarning, "expiry-warning", keyward.DefaultExpiryWarning,
		"send key.expiring to webhooks once per key this long before it expires; 0 sends none")
	f.StringVar(&c.leakPublicKeys, "leak-public-keys", "",
		"turn on POST /v1/leaks/github: the JSON document of GitHub's secret scanning public keys (https://api.github.com/meta/public_keys/secret_scanning)")
	f.StringVar(&c.leakAction, "leak-action", string(keyward.LeakRevoke),
		"what a reported leak of a live key does: revoke, disable or report (an audit entry and a key.leaked event only)")
}

// checkEvents checks the event flags and reads the leak key document.
func (c *serveConfig) checkEvents(in *serveInputs, add func(string, ...any)) {
	if c.expiryWarning < 0 {
		add("--expiry-warning must not be negative, got %v", c.expiryWarning)
	}
	action := keyward.LeakAction(c.leakAction)
	if !action.Valid() {
		add("--leak-action must be revoke, disable or report, got %q", c.leakAction)
	}
	if c.leakPublicKeys == "" {
		return
	}
	doc, err := os.ReadFile(c.leakPublicKeys)
	if err != nil {
		add("--leak-public-keys: %v", err)
		return
	}
	keys, err := server.ParseGitHubKeys(doc)
	if err != nil {
		add("--leak-public-keys %s: %v", c.leakPublicKeys, err)
		return
	}
	in.leaks = &server.LeakConfig{Keys: keys, Action: action}
}

// serviceEvents returns the event options of the Service: its expiry
// warnings, checked every minute, and d woken whenever it stores events.
func (c *serveConfig) serviceEvents(o *keyward.Options, d *webhook.Dispatcher) {
	o.ExpiryWarning, o.ExpiryCheckInterval, o.OnEvents = c.expiryWarning, expiryCheckInterval, d.Wake
	if c.expiryWarning == 0 {
		o.ExpiryWarning = -1 // off
	}
}

// startDispatcher starts the webhook dispatcher over the database store
// (with several instances on one PostgreSQL, the store's claims make each
// delivery go out from one of them). done stops it, waiting up to a send's
// timeout for the sends under way; deliveries it could not finish are
// retried when their lease ends, by this instance or another.
func startDispatcher(base keyward.Store, log *slog.Logger, done *cleanup) *webhook.Dispatcher {
	d := webhook.New(base, &webhook.Options{Logger: log})
	d.Start()
	done.add(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			log.Error("stopping the webhook dispatcher", "err", err)
		}
	})
	return d
}

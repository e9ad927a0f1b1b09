package keyward

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// LeakAction is what [Service.ReportLeak] does to a live key that a leak
// report matched.
type LeakAction string

// Leak actions.
const (
	// LeakRevoke revokes the key for good (the default of keyward serve's
	// --leak-action).
	LeakRevoke LeakAction = "revoke"
	// LeakDisable disables the key; an admin may enable it again.
	LeakDisable LeakAction = "disable"
	// LeakReportOnly changes nothing: the audit entry and the event tell
	// the owner.
	LeakReportOnly LeakAction = "report"
)

// Valid reports whether a is one of the leak actions.
func (a LeakAction) Valid() bool {
	switch a {
	case LeakRevoke, LeakDisable, LeakReportOnly:
		return true
	}
	return false
}

// ActorLeakReport is the audit actor of the changes a leak report makes.
const ActorLeakReport = "leak-report"

// ActionKeyLeak is the audit action of a leak report that matched a live
// key.
const ActionKeyLeak = "key.leak"

// Limits on what a leak report's source and url keep: they come from the
// reporter, and go to the audit log and the event.
const (
	maxLeakSource = 100
	maxLeakURL    = MaxWebhookURLLength
)

// LeakReport is one token a secret scanner found, for [Service.ReportLeak].
type LeakReport struct {
	// Token is the string found. It is never stored, logged or shown.
	Token string
	// Source says where it was found (GitHub: "content", "commit",
	// "issue_comment"...), URL the page it was found on; either may be "".
	Source, URL string
	// Action is done to a live key the token is; "" means LeakRevoke.
	Action LeakAction
}

// LeakOutcome is the answer of [Service.ReportLeak].
type LeakOutcome struct {
	// Match reports whether the token is a key of this deployment: its id
	// exists, and its prefix and secret match (a forged string with a real
	// key's id is no match).
	Match bool
	// Key is the matched key after the action; nil when there is no match.
	Key *Key
	// Action is the action done, "" when none was: no match, or the key was
	// revoked already (nothing to do, nothing written).
	Action LeakAction
}

// leakEvent is the data of key.leaked.
type leakEvent struct {
	Key    EventKey   `json:"key"`
	Source string     `json:"source"`
	URL    string     `json:"url"`
	Action LeakAction `json:"action"`
}

// clipReport shortens s to at most n bytes of valid UTF-8 without control
// characters: report fields go to the audit log as given.
func clipReport(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if isControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") // drops a rune cut in two
	}
	return s
}

// ReportLeak acts on a leaked token, as a secret scanner reports it (the
// GitHub-compatible endpoint of keyward serve, POST /v1/leaks/github). The
// token must be a key of this deployment as a whole: its id exists, and its
// prefix and secret match ([Service.Identify]); anything else (a string
// that does not parse, an unknown id, a forged string carrying a real key's
// id with another secret) is no match and changes nothing.
//
// A match on a key that is not revoked (active, disabled or expired: a
// disabled or expired key may be enabled or renewed) gets r.Action, an
// audit entry ActionKeyLeak by ActorLeakReport (details: source, url,
// action; never the token) and the event key.leaked, with key.revoked (for
// LeakRevoke) or key.updated (for LeakDisable, when the key was enabled)
// beside it, all in one store write. A key revoked already is a match with
// nothing to do. Returns a *ValidationError for a bad action, or the
// store's error.
func (s *Service) ReportLeak(ctx context.Context, r LeakReport) (LeakOutcome, error) {
	if r.Action == "" {
		r.Action = LeakRevoke
	}
	if !r.Action.Valid() {
		var probs problems
		probs.add("action", "must be revoke, disable or report")
		return LeakOutcome{}, probs.err()
	}
	k, err := s.Identify(ctx, r.Token)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrMalformed) {
		return LeakOutcome{}, nil
	}
	if err != nil {
		return LeakOutcome{}, fmt.Errorf("keyward: looking up a leaked key: %w", err)
	}
	if k.RevokedAt != nil {
		return LeakOutcome{Match: true, Key: k}, nil
	}
	ctx = NewActorContext(ctx, Actor{ID: ActorLeakReport, ClientIP: ActorFromContext(ctx).ClientIP})
	source, url := clipReport(r.Source, maxLeakSource), clipReport(r.URL, maxLeakURL)
	acted, found := r.Action, k
	k, err = s.store.Update(ctx, k.ID, func(k *Key) (*AuditEntry, error) {
		if k.RevokedAt != nil {
			acted = "" // revoked in the meantime: nothing to do
			return nil, ErrNoChange
		}
		now := s.Now()
		var change string // the event of the change, if any
		switch {
		case r.Action == LeakRevoke:
			k.RevokedAt, k.UpdatedAt, change = &now, now, EventKeyRevoked
		case r.Action == LeakDisable && k.Enabled:
			k.Enabled, k.UpdatedAt, change = false, now, EventKeyUpdated
		}
		a := s.audit(ctx, ActionKeyLeak, k.ID, map[string]any{"source": source, "url": url, "action": r.Action})
		e, err := s.newEvent(EventKeyLeaked, leakEvent{Key: s.eventKey(k), Source: source, URL: url, Action: r.Action})
		if a, err = withEvent(a, e, err); err != nil || change == "" {
			return a, err
		}
		e, err = s.keyEvent(ctx, change, k, "")
		return withEvent(a, e, err)
	})
	if errors.Is(err, ErrNotFound) {
		return LeakOutcome{Match: true, Key: found}, nil // deleted in the meantime: nothing to do
	}
	if err != nil {
		return LeakOutcome{}, fmt.Errorf("keyward: acting on a leaked key: %w", err)
	}
	if acted != "" {
		s.notifyEvents()
	}
	return LeakOutcome{Match: true, Key: s.view(k), Action: acted}, nil
}

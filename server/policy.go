package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// The key lifetime policy and the hygiene of keys: GET /v1/policy, the
// counts of the overview's hygiene card (GET /v1/stats/hygiene) and the
// filters of GET /v1/keys that list the keys behind each count.

// listParams are the Service's parameters of a GET /v1/keys, or a
// *keyward.ValidationError naming the query parameter of a duration that
// does not parse or is not positive.
func (in *listInput) listParams() (keyward.ListParams, error) {
	p := keyward.ListParams{
		Owner: in.Owner, Status: in.Status, Query: in.Q, Cursor: in.Cursor, Limit: in.Limit,
		NeverUsed: in.NeverUsed, NoExpiry: in.NoExpiry,
	}
	var probs []keyward.Problem
	for _, d := range []struct {
		name, value string
		to          *time.Duration
	}{{"unused_for", in.UnusedFor, &p.UnusedFor}, {"expires_within", in.ExpiresWithin, &p.ExpiresWithin}} {
		if d.value == "" {
			continue
		}
		v, err := time.ParseDuration(d.value)
		switch {
		case err != nil:
			probs = append(probs, keyward.Problem{Field: d.name, Message: fmt.Sprintf("%q is not a Go duration (like \"168h\" or \"90m\")", d.value)})
		case v <= 0:
			probs = append(probs, keyward.Problem{Field: d.name, Message: "must be a positive duration"})
		default:
			*d.to = v
		}
	}
	if len(probs) > 0 {
		return p, &keyward.ValidationError{Problems: probs}
	}
	return p, nil
}

// policyRoutes are the routes of the policy and of the hygiene counts.
func (s *Server) policyRoutes() []route {
	const keys, audit = "keys", "audit"
	return []route{
		{"get-policy", http.MethodGet, "/v1/policy", "Key lifetime policy",
			"The default and maximum key lifetimes that every create, update, rotate and import applies, as keyward serve " +
				"recorded them at its start (--default-key-lifetime, --max-key-lifetime); null where none is set. " +
				`"expires_in": "never" opts a key out of the default, unless a maximum is set.`,
			keys, authAdmin, 0, false, []int{401, 403, 503}, handle(s.getPolicy)},
		{"hygiene", http.MethodGet, "/v1/stats/hygiene", "Key hygiene",
			"Counts of active keys never used, unused for 90 days, expiring within 7 days and without expiry (the admin page's overview). " +
				"Each is the number of keys GET /v1/keys lists with status=active and never_used=true, unused_for=2160h, " +
				"expires_within=168h or no_expiry=true.",
			audit, authAdmin, 0, false, []int{401, 403, 503}, handle(s.hygiene)},
	}
}

func (s *Server) getPolicy(ctx context.Context, _ *struct{}) (*body[api.PolicyBody], error) {
	p, err := s.svc.Policy(ctx)
	if err != nil {
		return nil, s.errs.problem(err, "")
	}
	return &body[api.PolicyBody]{Body: api.NewPolicyBody(p)}, nil
}

func (s *Server) hygiene(ctx context.Context, _ *struct{}) (*body[api.HygieneBody], error) {
	h, err := s.svc.Hygiene(ctx)
	if err != nil {
		return nil, s.errs.problem(err, "")
	}
	return &body[api.HygieneBody]{Body: api.NewHygieneBody(h)}, nil
}

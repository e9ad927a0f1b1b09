package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// hygieneQuery sets the filters by use and expiry of p on q.
func hygieneQuery(q url.Values, p keyward.ListParams) {
	if p.UnusedFor != 0 {
		q.Set("unused_for", p.UnusedFor.String())
	}
	if p.ExpiresWithin != 0 {
		q.Set("expires_within", p.ExpiresWithin.String())
	}
	if p.NeverUsed {
		q.Set("never_used", strconv.FormatBool(true))
	}
	if p.NoExpiry {
		q.Set("no_expiry", strconv.FormatBool(true))
	}
}

// Policy returns the key lifetime policy the server applies.
func (c *Client) Policy(ctx context.Context) (keyward.Policy, error) {
	var out api.PolicyBody
	if err := c.do(ctx, http.MethodGet, "/v1/policy", nil, nil, &out); err != nil {
		return keyward.Policy{}, err
	}
	return out.Policy(), nil
}

// Hygiene returns the counts of active keys never used, unused for 90
// days, expiring within 7 days and without expiry.
func (c *Client) Hygiene(ctx context.Context) (keyward.Hygiene, error) {
	var out api.HygieneBody
	if err := c.do(ctx, http.MethodGet, "/v1/stats/hygiene", nil, nil, &out); err != nil {
		return keyward.Hygiene{}, err
	}
	return out.Hygiene(), nil
}

package server_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// TestLimitsFromConstants checks that huma validates requests with the
// limits of the root package's constants: its own messages (not the
// Service's) name the constant's value.
func TestLimitsFromConstants(t *testing.T) {
	e := newEnv(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	list := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf(`"10.0.%d.%d"`, i/256, i%256)
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	limits := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf(`{"name":"l%d","limit":1,"period":"1s"}`, i)
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	maxLen := func(n int) string { return fmt.Sprintf("expected length <= %d", n) }
	for _, tc := range []struct {
		name, method, target, body string
		location, message          string
	}{
		{"name", "POST", "/v1/keys", `{"name":"` + long(keyward.MaxNameLength+1) + `"}`, "body.name", maxLen(keyward.MaxNameLength)},
		{"empty name", "POST", "/v1/keys", `{"name":""}`, "body.name", "expected length >= 1"},
		{"description", "POST", "/v1/keys", `{"name":"x","description":"` + long(keyward.MaxDescriptionLength+1) + `"}`,
			"body.description", maxLen(keyward.MaxDescriptionLength)},
		{"owner", "POST", "/v1/keys", `{"name":"x","owner":"` + long(keyward.MaxOwnerLength+1) + `"}`, "body.owner", maxLen(keyward.MaxOwnerLength)},
		{"scopes", "POST", "/v1/keys", `{"name":"x","scopes":` + list(keyward.MaxScopes+1) + `}`,
			"body.scopes", fmt.Sprintf("expected array length <= %d", keyward.MaxScopes)},
		{"allowed_cidrs", "PATCH", "/v1/keys/0123456789abcdef", `{"allowed_cidrs":` + list(keyward.MaxCIDRs+1) + `}`,
			"body.allowed_cidrs", fmt.Sprintf("expected array length <= %d", keyward.MaxCIDRs)},
		{"prefix", "POST", "/v1/keys", `{"name":"x","prefix":"` + long(keyward.MaxPrefixLength+1) + `"}`,
			"body.prefix", fmt.Sprintf("expected string to match pattern ^[a-z][a-z0-9_]{0,%d}$", keyward.MaxPrefixLength-1)},
		{"expires_in", "PATCH", "/v1/keys/0123456789abcdef", `{"expires_in":"-1h"}`,
			"body.expires_in", "expected string to match pattern " + api.DurationPattern + "|^never$"},
		{"period", "POST", "/v1/keys", `{"name":"x","rate_limit":{"limit":1,"period":"1"}}`,
			"body.rate_limit.period", "expected string to match pattern " + api.DurationPattern},
		{"period in a patch", "PATCH", "/v1/keys/0123456789abcdef", `{"rate_limit":{"limit":1,"period":"1"}}`,
			"body.rate_limit.period", "expected string to match pattern " + api.DurationPattern},
		{"required in a patch", "PATCH", "/v1/keys/0123456789abcdef", `{"rate_limit":{"limit":1}}`,
			"body.rate_limit", "expected required property period to be present"},
		{"limit in a patch", "PATCH", "/v1/owners/acme", `{"refill":{"interval":"daily","amount":0}}`, "body.refill.amount", "expected number >= 1"},
		{"grace_period", "POST", "/v1/keys/0123456789abcdef/rotate", `{"grace_period":"1"}`,
			"body.grace_period", "expected string to match pattern " + api.DurationPattern + "|^0$"},
		{"limit", "GET", fmt.Sprintf("/v1/keys?limit=%d", keyward.MaxPageSize+1), "",
			"query.limit", fmt.Sprintf("expected number <= %d", keyward.MaxPageSize)},
		{"audit limit", "GET", "/v1/audit?limit=0", "", "query.limit", "expected number >= 1"},
		{"cursor", "GET", "/v1/audit?cursor=" + long(keyward.MaxCursorLength+1), "", "query.cursor", maxLen(keyward.MaxCursorLength)},
		{"q", "GET", "/v1/keys?q=" + long(keyward.MaxNameLength+1), "", "query.q", maxLen(keyward.MaxNameLength)},
		{"rate_limits", "PUT", "/v1/owners/acme", `{"rate_limits":` + limits(keyward.MaxRateLimits+1) + `}`,
			"body.rate_limits", fmt.Sprintf("expected array length <= %d", keyward.MaxRateLimits)},
		{"limit name", "POST", "/v1/keys", `{"name":"x","rate_limits":[{"name":"` + long(keyward.MaxLimitNameLength+1) + `","limit":1,"period":"1s"}]}`,
			"body.rate_limits[0].name", fmt.Sprintf("expected string to match pattern ^[a-z0-9][a-z0-9_-]{0,%d}$", keyward.MaxLimitNameLength-1)},
		{"roles", "PATCH", "/v1/keys/0123456789abcdef", `{"roles":["Reader"]}`,
			"body.roles[0]", fmt.Sprintf("expected string to match pattern ^[a-z0-9][a-z0-9:_.-]{0,%d}$", keyward.MaxRoleNameLength-1)},
		{"role description", "PUT", "/v1/roles/r", `{"description":"` + long(keyward.MaxDescriptionLength+1) + `"}`,
			"body.description", maxLen(keyward.MaxDescriptionLength)},
		{"owners cursor", "GET", "/v1/owners?cursor=" + long(1068), "", "query.cursor", maxLen(1067)},
		{"roles limit", "GET", "/v1/roles?limit=0", "", "query.limit", "expected number >= 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			e.srv.Handler().ServeHTTP(rec, req)
			var p api.Problem
			json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != 422 || len(p.Errors) != 1 || p.Errors[0].Location != tc.location || p.Errors[0].Message != tc.message {
				t.Errorf("%d %s, want 422 with %s: %s", rec.Code, rec.Body.Bytes(), tc.location, tc.message)
			}
		})
	}
}

package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// problemOf decodes a problem answer.
func problemOf(t *testing.T, b []byte) api.Problem {
	t.Helper()
	var p api.Problem
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("not a problem: %s", b)
	}
	return p
}

// TestErrorsNameJSONPathsAndEchoNothing: a validation problem's location is
// the request's JSON path (indices included), never a Go type or struct
// name, and no message repeats a value the client sent.
func TestErrorsNameJSONPathsAndEchoNothing(t *testing.T) {
	e := newEnv(t)
	key := e.create(t, keyward.CreateParams{}).Secret
	id := e.create(t, keyward.CreateParams{}).Key.ID
	for _, tc := range []struct {
		name, method, target, body string
		location                   string
	}{
		{"a key as a CIDR", "POST", "/v1/keys", `{"name":"x","allowed_cidrs":["10.0.0.0/8","` + key + `"]}`, "body.allowed_cidrs[1]"},
		{"a key as a CIDR, PATCH", "PATCH", "/v1/keys/" + id, `{"allowed_cidrs":["` + key + `/8"]}`, "body.allowed_cidrs[0]"},
		{"an integer past int64", "POST", "/v1/keys", `{"name":"x","rate_limit":{"limit":1e30,"period":"1s"}}`, "body.rate_limit.limit"},
		{"an integer past int64 in a list", "POST", "/v1/keys", `{"name":"x","rate_limits":[{"name":"a","limit":1,"period":"1s"},{"name":"b","limit":99999999999999999999,"period":"1s"}]}`, "body.rate_limits[1].limit"},
		{"remaining past int64, PATCH", "PATCH", "/v1/keys/" + id, `{"remaining":1e30}`, "body.remaining"},
		{"refill amount past int64", "PATCH", "/v1/keys/" + id, `{"remaining":1,"refill":{"interval":"daily","amount":1e20}}`, "body.refill.amount"},
		{"owner refill amount past int64", "PUT", "/v1/owners/acme", `{"remaining":1,"refill":{"interval":"daily","amount":1e20}}`, "body.refill.amount"},
		{"a duration past time.Duration", "PATCH", "/v1/keys/" + id, `{"expires_in":"99999999999999h"}`, "body.expires_in"},
		{"a duration past time.Duration in a list", "POST", "/v1/keys", `{"name":"x","rate_limits":[{"name":"a","limit":1,"period":"99999999999999h"}]}`, "body.rate_limits[0].period"},
		{"a key as a property name", "POST", "/v1/keys", `{"name":"x","` + key + `":1}`, "body.kw_"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.admin(t, tc.method, tc.target, tc.body)
			if rec.Code != 422 {
				t.Fatalf("%d %s, want 422", rec.Code, rec.Body)
			}
			p := problemOf(t, rec.Body.Bytes())
			found := false
			for _, d := range p.Errors {
				found = found || strings.HasPrefix(d.Location, tc.location)
			}
			if !found {
				t.Errorf("no problem at %s: %s", tc.location, rec.Body)
			}
			if keys := findKeys(rec.Body.Bytes()); len(keys) > 0 {
				t.Errorf("the answer echoes a key: %s", rec.Body)
			}
			for _, word := range []string{"Go struct", "Go value", "Body.", "api.", "int64", "json:", "1e30", "1e20", "99999999999999999999", "99999999999999h"} {
				if strings.Contains(rec.Body.String(), word) {
					t.Errorf("the answer says %q: %s", word, rec.Body)
				}
			}
		})
	}
}

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

// TestInvalidUTF8AndStrayNulls: invalid UTF-8 in a string (which JSON
// decoding would replace with U+FFFD) and null where the contract gives it
// no meaning (which it would ignore) are 422 at their location, and change
// nothing; null where it clears a field still does, and where a create
// gives a field the contract types "or null" it is the same as leaving the
// member out.
func TestInvalidUTF8AndStrayNulls(t *testing.T) {
	e := newEnv(t)
	iss := e.create(t, keyward.CreateParams{Name: "before"})
	id := iss.Key.ID
	for _, tc := range []struct {
		name, method, target, body string
		location, message          string
	}{
		{"invalid UTF-8 in a name", "POST", "/v1/keys", "{\"name\":\"a\xffb\"}", "body.name", "must be valid UTF-8"},
		{"invalid UTF-8 in a PATCH", "PATCH", "/v1/keys/" + id, "{\"description\":\"\xc3\x28\"}", "body.description", "must be valid UTF-8"},
		{"invalid UTF-8 in metadata", "POST", "/v1/keys", "{\"name\":\"x\",\"metadata\":{\"a\":[\"\xed\xa0\x80\"]}}", "body.metadata.a[0]", "must be valid UTF-8"},
		{"invalid UTF-8 in a member name", "POST", "/v1/keys", "{\"name\":\"x\",\"metadata\":{\"\xff\":1}}", "body.metadata", "member names must be valid UTF-8"},
		{"invalid UTF-8 in a role", "PUT", "/v1/roles/r", "{\"description\":\"\xff\"}", "body.description", "must be valid UTF-8"},
		{"null name in a PATCH", "PATCH", "/v1/keys/" + id, `{"name":null}`, "body.name", "must not be null"},
		{"null scopes in a PATCH", "PATCH", "/v1/keys/" + id, `{"scopes":null}`, "body.scopes", "must not be null"},
		{"null enabled in a PATCH", "PATCH", "/v1/keys/" + id, `{"enabled":null}`, "body.enabled", "must not be null"},
		{"null item", "POST", "/v1/keys", `{"name":"x","scopes":["a",null]}`, "body.scopes[1]", "expected string"},
		{"null owner scopes", "PUT", "/v1/roles/r", `{"scopes":null}`, "body.scopes", "must not be null"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.admin(t, tc.method, tc.target, tc.body)
			if rec.Code != 422 {
				t.Fatalf("%d %s, want 422", rec.Code, rec.Body)
			}
			p := problemOf(t, rec.Body.Bytes())
			found := false
			for _, d := range p.Errors {
				found = found || d.Location == tc.location && strings.HasPrefix(d.Message, tc.message)
			}
			if !found {
				t.Errorf("no %q at %s: %s", tc.message, tc.location, rec.Body)
			}
		})
	}
	if k, _ := e.svc.Get(t.Context(), id); k.Name != "before" || k.Description != "" {
		t.Errorf("a refused PATCH changed the key: %q %q", k.Name, k.Description)
	}
	// Nullable fields: null clears them.
	e.admin(t, "PATCH", "/v1/keys/"+id, `{"remaining":5,"expires_in":"1h","rate_limit":{"limit":1,"period":"1s"}}`)
	rec := e.admin(t, "PATCH", "/v1/keys/"+id, `{"remaining":null,"expires_at":null,"rate_limit":null,"refill":null}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"remaining":null`) || !strings.Contains(rec.Body.String(), `"expires_at":null`) ||
		!strings.Contains(rec.Body.String(), `"rate_limit":null`) {
		t.Errorf("clearing with null: %d %s", rec.Code, rec.Body)
	}
	// expires_in null clears the expiry too, as "never" does.
	e.admin(t, "PATCH", "/v1/keys/"+id, `{"expires_in":"1h"}`)
	if rec := e.admin(t, "PATCH", "/v1/keys/"+id, `{"expires_in":null}`); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"expires_at":null`) {
		t.Errorf("expires_in null: %d %s, want 200 without expiry", rec.Code, rec.Body)
	}
	if rec := e.admin(t, "PATCH", "/v1/keys/"+id, `{"expires_in":null,"expires_at":"2999-01-01T00:00:00Z"}`); rec.Code != 422 {
		t.Errorf("expires_in null with expires_at: %d %s, want 422 (not both)", rec.Code, rec.Body)
	}
	// In a create, null members of the contract's "or null" fields are as if
	// left out: a key object read back can be sent again.
	rec = e.admin(t, "POST", "/v1/keys", `{"name":"nulls","expires_at":null,"rate_limit":null,"remaining":null,"refill":null}`)
	if rec.Code != 201 || !strings.Contains(rec.Body.String(), `"remaining":null`) || !strings.Contains(rec.Body.String(), `"expires_at":null`) ||
		!strings.Contains(rec.Body.String(), `"rate_limit":null`) || !strings.Contains(rec.Body.String(), `"refill":null`) {
		t.Errorf("a create with null members: %d %s", rec.Code, rec.Body)
	}
	if rec := e.admin(t, "PUT", "/v1/owners/nulls", `{"remaining":null,"refill":null}`); rec.Code != 201 || !strings.Contains(rec.Body.String(), `"remaining":null`) {
		t.Errorf("an owner PUT with null credits: %d %s, want 201 without credits", rec.Code, rec.Body)
	}
	if rec := e.admin(t, "PATCH", "/v1/owners/acme", `{"remaining":null,"refill":null}`); rec.Code != 404 {
		t.Errorf("null credits in an owner PATCH: %d %s, want 404 (no such owner: the body is fine)", rec.Code, rec.Body)
	}
	if rec := e.admin(t, "PUT", "/v1/owners/acme", `{"metadata":{"a":null,"b":[null]}}`); rec.Code != 201 {
		t.Errorf("null inside metadata: %d %s, want 201 (free-form JSON)", rec.Code, rec.Body)
	}
}

package server

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// nullable is the schema of a keyward.Nullable[T] in the OpenAPI document:
// T's, or null.
type nullable[T any] struct{}

// Schema is T's schema, nullable.
func (nullable[T]) Schema(r huma.Registry) *huma.Schema {
	s := *r.Schema(reflect.TypeFor[T](), true, "")
	if s.Ref != "" {
		return &huma.Schema{OneOf: []*huma.Schema{{Ref: s.Ref}, {Type: "null"}}}
	}
	s.Nullable = true
	return &s
}

func nullableAlias[T any](r huma.Registry) {
	r.RegisterTypeAlias(reflect.TypeFor[keyward.Nullable[T]](), reflect.TypeFor[nullable[T]]())
}

// registerNullables tells huma the schema of each keyward.Nullable in the
// request bodies; checkSchemas fails for one left out.
func registerNullables(r huma.Registry) {
	nullableAlias[time.Time](r)
	nullableAlias[int64](r)
	nullableAlias[api.RateLimitBody](r)
	nullableAlias[api.RefillBody](r)
}

// A rule sets one of the Service's limits on the schema of a field, from
// the root package's constants, so that huma checks it first and the
// OpenAPI document shows it.
type rule struct {
	schema string // a component schema, or "" for the query parameters of every operation
	field  string
	set    func(*huma.Schema)
}

func length(minLen, maxLen int) func(*huma.Schema) {
	return func(s *huma.Schema) {
		if minLen > 0 {
			s.MinLength = &minLen
		}
		s.MaxLength = &maxLen
	}
}

func maxItems(n int) func(*huma.Schema) {
	return func(s *huma.Schema) { s.MaxItems = &n }
}

func pattern(p string) func(*huma.Schema) {
	return func(s *huma.Schema) { s.Pattern = p }
}

// expiresInPattern accepts a Go duration, or "never" (keyward.Never: no
// expiry, opting out of the default key lifetime).
const expiresInPattern = api.DurationPattern + "|^never$"

// rules lists the limits of the request bodies and query parameters.
func rules() []rule {
	var rs []rule
	for _, body := range []string{"CreateKeyBody", "UpdateKeyBody"} {
		rs = append(rs,
			rule{body, "name", length(1, keyward.MaxNameLength)},
			rule{body, "description", length(0, keyward.MaxDescriptionLength)},
			rule{body, "owner", length(0, keyward.MaxOwnerLength)},
			rule{body, "scopes", maxItems(keyward.MaxScopes)},
			rule{body, "allowed_cidrs", maxItems(keyward.MaxCIDRs)},
			rule{body, "expires_in", pattern(expiresInPattern)},
			rule{body, "metadata", func(s *huma.Schema) {
				s.Type, s.AdditionalProperties = huma.TypeObject, &huma.Schema{}
				s.Description = fmt.Sprintf("A JSON object of at most %d KiB.", keyward.MaxMetadataBytes>>10)
			}},
		)
	}
	return append(rs,
		rule{"CreateKeyBody", "prefix", pattern(fmt.Sprintf("^[a-z][a-z0-9_]{0,%d}$", keyward.MaxPrefixLength-1))},
		rule{"RateLimitBody", "period", func(s *huma.Schema) {
			s.Pattern = api.DurationPattern
			s.Description = fmt.Sprintf("A Go duration of at least %v, e.g. 1m, 24h.", keyward.MinRateLimitPeriod)
		}},
		rule{"RotateBody", "grace_period", pattern(api.DurationPattern + "|^0$")},
		rule{"RotateBody", "expires_in", pattern(expiresInPattern)},
		rule{"", "limit", func(s *huma.Schema) {
			lo, hi := 1.0, float64(keyward.MaxPageSize)
			s.Minimum, s.Maximum, s.Default = &lo, &hi, keyward.DefaultPageSize
		}},
		rule{"", "cursor", length(0, keyward.MaxCursorLength)},
		rule{"", "owner", length(0, keyward.MaxOwnerLength)},
		rule{"", "q", length(0, keyward.MaxNameLength)},
	)
}

// applyRules sets the rules on the registered operations. huma validates
// requests against these same schema objects (the bodies through their
// $ref, the parameters directly), so the messages it precomputes are
// computed again after the change.
func applyRules(oapi *huma.OpenAPI) error {
	schemas := oapi.Components.Schemas.Map()
	for _, r := range rules() {
		var targets []*huma.Schema
		if r.schema == "" {
			targets = queryParams(oapi, r.field)
		} else if sc := schemas[r.schema]; sc != nil && sc.Properties[r.field] != nil {
			targets = append(targets, sc.Properties[r.field])
		}
		if len(targets) == 0 {
			return fmt.Errorf("server: no field %s.%s for its limit", r.schema, r.field)
		}
		for _, t := range targets {
			r.set(t)
			t.PrecomputeMessages()
		}
	}
	return nil
}

// queryParams returns the schemas of the query parameters named name.
func queryParams(oapi *huma.OpenAPI, name string) []*huma.Schema {
	var out []*huma.Schema
	for _, item := range oapi.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op == nil {
				continue
			}
			for _, p := range op.Parameters {
				if p.In == "query" && p.Name == name && p.Schema != nil {
					out = append(out, p.Schema)
				}
			}
		}
	}
	return out
}

// checkSchemas fails for a keyward.Nullable that registerNullables left
// out: huma would show it as an object with Set and Value.
func checkSchemas(oapi *huma.OpenAPI) error {
	var names []string
	for name := range oapi.Components.Schemas.Map() {
		if strings.HasPrefix(name, "Nullable") {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		sort.Strings(names)
		return fmt.Errorf("server: no schema for %s: add it to registerNullables", strings.Join(names, ", "))
	}
	return nil
}

// markNullableRefs declares the object fields of a key that may be null:
// huma cannot mark a referenced schema nullable itself.
func markNullableRefs(oapi *huma.OpenAPI) {
	sc := oapi.Components.Schemas.Map()["KeyView"]
	if sc == nil {
		return
	}
	for _, field := range []string{"rate_limit", "refill"} {
		if p := sc.Properties[field]; p != nil && p.Ref != "" {
			sc.Properties[field] = &huma.Schema{OneOf: []*huma.Schema{{Ref: p.Ref}, {Type: "null"}}}
		}
	}
}

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

// Schema is T's schema, nullable: for a struct, a copy of its component
// schema (sharing its properties, so the rules set on them hold here too)
// rather than a oneOf with null, which huma's validator cannot check (it
// lets any value match {"type": "null"}).
func (nullable[T]) Schema(r huma.Registry) *huma.Schema {
	s := *r.Schema(reflect.TypeFor[T](), false, "")
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
	nullableAlias[keyward.Duration](r)
}

// A rule sets one of the Service's limits on the schema of a field, from
// the root package's constants, so that huma checks it first and the
// OpenAPI document shows it.
type rule struct {
	// schema is a component schema; "" for the query parameters of every
	// operation, "query:<operation id>" for those of one operation.
	schema string
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

// all applies each of sets to a schema.
func all(sets ...func(*huma.Schema)) func(*huma.Schema) {
	return func(s *huma.Schema) {
		for _, set := range sets {
			set(s)
		}
	}
}

// items applies set to the schema of an array's items.
func items(set func(*huma.Schema)) func(*huma.Schema) {
	return func(s *huma.Schema) {
		set(s.Items)
		s.Items.PrecomputeMessages()
	}
}

// metadataObject is the schema of a metadata member.
func metadataObject(s *huma.Schema) {
	s.Type, s.AdditionalProperties = huma.TypeObject, &huma.Schema{}
	s.Description = fmt.Sprintf("A JSON object of at most %d KiB.", keyward.MaxMetadataBytes>>10)
}

// expiresInPattern accepts a Go duration, or "never" (keyward.Never: no
// expiry, opting out of the default key lifetime).
const expiresInPattern = api.DurationPattern + "|^never$"

// rules lists the limits of the request bodies and query parameters.
func rules() []rule {
	limitNamePattern := fmt.Sprintf("^[a-z0-9][a-z0-9_-]{0,%d}$", keyward.MaxLimitNameLength-1)
	roleNamePattern := fmt.Sprintf("^[a-z0-9][a-z0-9:_.-]{0,%d}$", keyward.MaxRoleNameLength-1)
	rs := webhookRules()
	for _, body := range []string{"CreateKeyBody", "UpdateKeyBody"} {
		rs = append(rs,
			rule{body, "name", length(1, keyward.MaxNameLength)},
			rule{body, "description", length(0, keyward.MaxDescriptionLength)},
			rule{body, "owner", length(0, keyward.MaxOwnerLength)},
			rule{body, "scopes", maxItems(keyward.MaxScopes)},
			rule{body, "allowed_cidrs", maxItems(keyward.MaxCIDRs)},
			rule{body, "expires_in", pattern(api.DurationPattern)},
			rule{body, "metadata", metadataObject},
			rule{body, "roles", all(maxItems(keyward.MaxKeyRoles), items(pattern(roleNamePattern)))},

			rule{body, "expires_in", pattern(expiresInPattern)},
			rule{body, "metadata", func(s *huma.Schema) {
				s.Type, s.AdditionalProperties = huma.TypeObject, &huma.Schema{}
				s.Description = fmt.Sprintf("A JSON object of at most %d KiB.", keyward.MaxMetadataBytes>>10)
			}},
		)
	}
	for _, body := range []string{"CreateKeyBody", "UpdateKeyBody", "OwnerBody", "UpdateOwnerBody"} {
		rs = append(rs, rule{body, "rate_limits", maxItems(keyward.MaxRateLimits)})
	}
	for _, body := range []string{"RateLimitBody", "NamedRateLimitBody"} {
		rs = append(rs, rule{body, "period", func(s *huma.Schema) {
			s.Pattern = api.DurationPattern
			s.Description = fmt.Sprintf("A Go duration of at least %v, e.g. 1m, 24h.", keyward.MinRateLimitPeriod)
		}})
	}
	return append(rs,
		rule{"CreateKeyBody", "prefix", pattern(fmt.Sprintf("^[a-z][a-z0-9_]{0,%d}$", keyward.MaxPrefixLength-1))},
		rule{"NamedRateLimitBody", "name", pattern(limitNamePattern)},
		rule{"OwnerBody", "metadata", metadataObject},
		rule{"UpdateOwnerBody", "metadata", metadataObject},
		rule{"RoleBody", "description", length(0, keyward.MaxDescriptionLength)},
		rule{"RoleBody", "scopes", maxItems(keyward.MaxScopes)},
		rule{"VerifyBody", "scope_query", func(s *huma.Schema) {
			s.Description = fmt.Sprintf("Scope names joined by and, or and parentheses (and binds tighter), e.g. "+
				"`invoices:read and (invoices:write or billing:admin)`; must hold too. At most %d names and %d characters; "+
				"a query that does not parse is a 422 naming the position.", keyward.MaxScopeQueryNames, keyward.MaxScopeQueryLength)
		}},
		rule{"RotateBody", "grace_period", pattern(api.DurationPattern + "|^0$")},
		rule{"RotateBody", "expires_in", pattern(expiresInPattern)},
		rule{"", "limit", func(s *huma.Schema) {
			lo, hi := 1.0, float64(keyward.MaxPageSize)
			s.Minimum, s.Maximum, s.Default = &lo, &hi, keyward.DefaultPageSize
		}},
		rule{"", "cursor", length(0, keyward.MaxCursorLength)},
		// A page of owners or roles ends at a name: its cursor is longer.
		rule{"query:list-owners", "cursor", length(0, nameCursorLength)},
		rule{"query:list-roles", "cursor", length(0, nameCursorLength)},
		rule{"", "owner", length(0, keyward.MaxOwnerLength)},
		rule{"", "q", length(0, keyward.MaxNameLength)},
	)
}

// nameCursorLength is the longest cursor of a page of owners or roles: a
// name of up to 200 characters of 4 bytes, base64-encoded without padding.
const nameCursorLength = (4*keyward.MaxOwnerLength*8 + 5) / 6

// applyRules sets the rules on the registered operations. huma validates
// requests against these same schema objects (the bodies through their
// $ref, the parameters directly), so the messages it precomputes are
// computed again after the change.
func applyRules(oapi *huma.OpenAPI) error {
	schemas := oapi.Components.Schemas.Map()
	for _, r := range rules() {
		var targets []*huma.Schema
		if op, ok := strings.CutPrefix(r.schema, "query:"); ok || r.schema == "" {
			targets = queryParams(oapi, r.field, op)
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

// queryParams returns the schemas of the query parameters named name, of
// the operation opID ("" for every operation).
func queryParams(oapi *huma.OpenAPI, name, opID string) []*huma.Schema {
	var out []*huma.Schema
	for _, item := range oapi.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op == nil || (opID != "" && op.OperationID != opID) {
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

// fixAnswerSchemas declares what huma cannot see in the answers' types
// from the root package: the object fields that may be null (huma cannot
// mark a referenced schema nullable itself), and the lists that never are
// (the api views answer [] for none).
func fixAnswerSchemas(oapi *huma.OpenAPI) {
	schemas := oapi.Components.Schemas.Map()
	for name, fields := range map[string][]string{"KeyView": {"rate_limit", "refill"}, "OwnerView": {"refill"}} {
		for _, field := range fields {
			if p := schemas[name].Properties[field]; p != nil && p.Ref != "" {
				schemas[name].Properties[field] = &huma.Schema{OneOf: []*huma.Schema{{Ref: p.Ref}, {Type: "null"}}}
			}
		}
	}
	lists := map[string][]string{
		"KeyView":   {"scopes", "allowed_cidrs", "rate_limits", "roles"},
		"OwnerView": {"rate_limits"},
		"RoleView":  {"scopes"},
		"AuditPage": {"items"},
		// The Service always answers a list, [] when no bucket has traffic.
		"UsageReport": {"series"},
	}
	lists["WebhookView"] = []string{"events"}
	for name, fields := range lists {
		for _, field := range fields {
			if p := schemas[name].Properties[field]; p != nil {
				p.Type, p.Nullable = huma.TypeArray, false
			}
		}
	}
}

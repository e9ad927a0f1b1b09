// Package api holds the JSON bodies of keyward's HTTP API, shared by package
// server and package client, and their conversions to and from the root
// package's parameters and results: a field added here reaches both sides.
//
// It imports the standard library and package keyward only. The struct tags
// besides json (doc, enum, minimum...) describe the fields for the OpenAPI
// document that package server generates; the limits that the root package
// defines as constants (lengths, counts, the duration pattern) are not
// restated here: package server sets them on the schema from the constants.
package api

import (
	"encoding/json"
	"time"

	"github.com/keyward/keyward"
)

// DurationPattern is the regular expression of the Go duration strings that
// request bodies accept, such as "90s" or "720h": no sign, a unit after
// every number.
const DurationPattern = `^([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$`

// KeyView is a key as the API shows it: the stored fields and its status.
type KeyView struct {
	keyward.Key
	Status keyward.Status `json:"status" enum:"active,disabled,revoked,expired" doc:"revoked, else expired, else disabled, else active."`
}

// NewKeyView shows k with its status at now. Its lists are never null.
func NewKeyView(k *keyward.Key, now time.Time) KeyView {
	v := KeyView{Key: *k, Status: k.Status(now)}
	v.Scopes, v.AllowedCIDRs, v.Roles = nonNil(v.Scopes), nonNil(v.AllowedCIDRs), nonNil(v.Roles)
	v.RateLimits = nonNil(v.RateLimits)
	return v
}

// IssuedBody is a key with its secret, shown once: the answer of create and
// rotate.
type IssuedBody struct {
	Key    KeyView `json:"key"`
	Secret string  `json:"secret" doc:"The full key string. It is not stored and is never shown again."`
}

// NewIssuedBody shows iss with the key's status at now.
func NewIssuedBody(iss keyward.Issued, now time.Time) IssuedBody {
	return IssuedBody{Key: NewKeyView(iss.Key, now), Secret: iss.Secret}
}

// Issued returns the key and its secret.
func (b IssuedBody) Issued() keyward.Issued {
	return keyward.Issued{Key: &b.Key.Key, Secret: b.Secret}
}

// PageBody is a page of keys: the answer of GET /v1/keys.
type PageBody struct {
	Items      []KeyView `json:"items" nullable:"false"`
	NextCursor string    `json:"next_cursor,omitempty" doc:"Absent when no keys follow."`
}

// NewPageBody shows p with the keys' status at now.
func NewPageBody(p keyward.Page, now time.Time) PageBody {
	out := PageBody{Items: make([]KeyView, len(p.Items)), NextCursor: p.NextCursor}
	for i, k := range p.Items {
		out.Items[i] = NewKeyView(k, now)
	}
	return out
}

// Page returns the keys of the page.
func (b PageBody) Page() keyward.Page {
	out := keyward.Page{Items: make([]*keyward.Key, len(b.Items)), NextCursor: b.NextCursor}
	for i := range b.Items {
		out.Items[i] = &b.Items[i].Key
	}
	return out
}

// StatsBody is the overview of GET /v1/stats.
type StatsBody struct {
	Keys  map[string]int64    `json:"keys" doc:"Number of keys per status: active, disabled, revoked, expired."`
	Usage keyward.UsageReport `json:"usage" doc:"Verifications of all keys per minute over the last hour (key_id is empty)."`
}

// nonNil returns s, or an empty slice for nil: lists in answers are never
// null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// NamePage is a page of owner records or roles, by name: the answer of
// GET /v1/owners and GET /v1/roles.
type NamePage[V any] struct {
	Items      []V    `json:"items" nullable:"false"`
	NextCursor string `json:"next_cursor,omitempty" doc:"Absent when nothing follows."`
}

// OwnerPageBody is a page of owner records: the answer of GET /v1/owners.
type OwnerPageBody = NamePage[OwnerView]

// RolePageBody is a page of roles: the answer of GET /v1/roles.
type RolePageBody = NamePage[RoleView]

// NewOwnerPageBody shows p.
func NewOwnerPageBody(p keyward.OwnerPage) OwnerPageBody {
	return newNamePage(p.Items, p.NextCursor, NewOwnerView)
}

// NewRolePageBody shows p.
func NewRolePageBody(p keyward.RolePage) RolePageBody {
	return newNamePage(p.Items, p.NextCursor, NewRoleView)
}

// OwnerPage returns the records that b shows.
func OwnerPage(b OwnerPageBody) keyward.OwnerPage {
	return keyward.OwnerPage{Items: records(b, func(v *OwnerView) *keyward.Owner { return &v.Owner }), NextCursor: b.NextCursor}
}

// RolePage returns the roles that b shows.
func RolePage(b RolePageBody) keyward.RolePage {
	return keyward.RolePage{Items: records(b, func(v *RoleView) *keyward.Role { return &v.Role }), NextCursor: b.NextCursor}
}

// newNamePage shows the records of a page with view.
func newNamePage[R, V any](items []*R, next string, view func(*R) V) NamePage[V] {
	return NamePage[V]{Items: nonNil(convertAll(items, view)), NextCursor: next}
}

// records returns the records a page shows, with rec.
func records[V, R any](b NamePage[V], rec func(*V) *R) []*R {
	out := make([]*R, len(b.Items))
	for i := range b.Items {
		out[i] = rec(&b.Items[i])
	}
	return out
}

// convertAll converts each element of in with f; nil stays nil.
func convertAll[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// object returns a metadata member for the Service: null is the same as
// absent.
func object(m json.RawMessage) json.RawMessage {
	if string(m) == "null" {
		return nil
	}
	return m
}

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

// NewKeyView shows k with its status at now.
func NewKeyView(k *keyward.Key, now time.Time) KeyView {
	return KeyView{Key: *k, Status: k.Status(now)}
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
	Items      []KeyView `json:"items"`
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

// object returns a metadata member for the Service: null is the same as
// absent.
func object(m json.RawMessage) json.RawMessage {
	if string(m) == "null" {
		return nil
	}
	return m
}

package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward"
)

// KeyView is a key as the API shows it: the stored fields and its status.
type KeyView struct {
	keyward.Key
	Status keyward.Status `json:"status" enum:"active,disabled,revoked,expired" doc:"revoked, else expired, else disabled, else active."`
}

func (s *Server) view(k *keyward.Key) KeyView {
	return KeyView{Key: *k, Status: k.Status(s.svc.Now())}
}

// duration is a Go duration string in request bodies ("90s", "720h").
type duration = keyward.Duration

// nullable is an optional field that may also be null: Set reports whether
// it was present; a null leaves Value nil.
type nullable[T any] struct {
	Set   bool
	Value *T
}

// UnmarshalJSON records presence (encoding/json calls it for null too).
func (n *nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Value = nil
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

// Schema is T's schema, nullable.
func (n nullable[T]) Schema(r huma.Registry) *huma.Schema {
	var zero T
	s := *r.Schema(reflect.TypeOf(zero), true, "")
	if s.Ref != "" {
		return &huma.Schema{OneOf: []*huma.Schema{{Ref: s.Ref}, {Type: "null"}}}
	}
	s.Nullable = true
	return &s
}

func (n nullable[T]) keyward() keyward.Nullable[T] {
	return keyward.Nullable[T]{Set: n.Set, Value: n.Value}
}

// RateLimitBody is a rate limit in a request.
type RateLimitBody struct {
	Limit  int64    `json:"limit" minimum:"1" doc:"At most this many units are admitted in any window of period."`
	Period duration `json:"period" pattern:"^([0-9]+(\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$" doc:"A Go duration of at least 1s, e.g. 1m, 24h."`
}

// RefillBody is a credit refill in a request.
type RefillBody struct {
	Interval string `json:"interval" enum:"daily,monthly" doc:"Refill at the start of each UTC day or month."`
	Amount   int64  `json:"amount" minimum:"1"`
}

func (b *RateLimitBody) toKeyward() *keyward.RateLimit {
	if b == nil {
		return nil
	}
	return &keyward.RateLimit{Limit: b.Limit, Period: b.Period}
}

func (b *RefillBody) toKeyward() *keyward.Refill {
	if b == nil {
		return nil
	}
	return &keyward.Refill{Interval: b.Interval, Amount: b.Amount}
}

// CreateKeyBody is the body of POST /v1/keys.
type CreateKeyBody struct {
	Name         string         `json:"name" minLength:"1" maxLength:"200"`
	Description  string         `json:"description,omitempty" maxLength:"2000"`
	Owner        string         `json:"owner,omitempty" maxLength:"200" doc:"Who the key belongs to (user, team, tenant)."`
	Scopes       []string       `json:"scopes,omitempty" maxItems:"100" nullable:"false"`
	Metadata     map[string]any `json:"metadata,omitempty" doc:"A JSON object of at most 16 KiB."`
	Prefix       string         `json:"prefix,omitempty" pattern:"^[a-z][a-z0-9_]{0,19}$" doc:"Prefix of the key string; default kw."`
	ExpiresAt    *time.Time     `json:"expires_at,omitempty" doc:"In the future. Not with expires_in."`
	ExpiresIn    *duration      `json:"expires_in,omitempty" pattern:"^([0-9]+(\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$" doc:"A Go duration, e.g. 720h. Not with expires_at."`
	RateLimit    *RateLimitBody `json:"rate_limit,omitempty"`
	Remaining    *int64         `json:"remaining,omitempty" minimum:"0" doc:"Credits; absent means unlimited."`
	Refill       *RefillBody    `json:"refill,omitempty" doc:"Needs remaining."`
	AllowedCIDRs []string       `json:"allowed_cidrs,omitempty" maxItems:"100" nullable:"false" doc:"If not empty, the client address must fall in one of them."`
	Enabled      *bool          `json:"enabled,omitempty" doc:"Default true."`
}

// UpdateKeyBody is the body of PATCH /v1/keys/{id}: only the fields present
// change; null clears the nullable ones.
type UpdateKeyBody struct {
	Name         *string                 `json:"name,omitempty" minLength:"1" maxLength:"200"`
	Description  *string                 `json:"description,omitempty" maxLength:"2000"`
	Owner        *string                 `json:"owner,omitempty" maxLength:"200"`
	Scopes       *[]string               `json:"scopes,omitempty" maxItems:"100"`
	Metadata     map[string]any          `json:"metadata,omitempty"`
	Enabled      *bool                   `json:"enabled,omitempty"`
	ExpiresAt    nullable[time.Time]     `json:"expires_at,omitempty" doc:"In the future; null removes the expiry. Not with expires_in."`
	ExpiresIn    *duration               `json:"expires_in,omitempty" pattern:"^([0-9]+(\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$" doc:"Renew: expire this long from now."`
	RateLimit    nullable[RateLimitBody] `json:"rate_limit,omitempty"`
	Remaining    nullable[int64]         `json:"remaining,omitempty"`
	Refill       nullable[RefillBody]    `json:"refill,omitempty"`
	AllowedCIDRs *[]string               `json:"allowed_cidrs,omitempty" maxItems:"100"`
}

// RotateBody is the optional body of POST /v1/keys/{id}/rotate.
type RotateBody struct {
	GracePeriod *duration  `json:"grace_period,omitempty" pattern:"^([0-9]+(\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$|^0$" doc:"How long the old key keeps working; default 1h, 0s ends it now."`
	ExpiresAt   *time.Time `json:"expires_at,omitempty" doc:"Expiry of the new key (default: the old key's, if still in the future)."`
	ExpiresIn   *duration  `json:"expires_in,omitempty" pattern:"^([0-9]+(\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$"`
}

// IssuedBody is a key with its secret, shown once.
type IssuedBody struct {
	Key    KeyView `json:"key"`
	Secret string  `json:"secret" doc:"The full key string. It is not stored and is never shown again."`
}

// PageBody is a page of keys.
type PageBody struct {
	Items      []KeyView `json:"items"`
	NextCursor string    `json:"next_cursor,omitempty" doc:"Absent when no keys follow."`
}

// VerifyBody is the body of POST /v1/keys/verify.
type VerifyBody struct {
	Key      string   `json:"key" doc:"The full key string presented by your caller."`
	Scopes   []string `json:"scopes,omitempty" nullable:"false" doc:"All required."`
	Cost     *int64   `json:"cost,omitempty" minimum:"0" doc:"Units of rate limit and credits to spend; default 1, 0 checks without spending."`
	ClientIP string   `json:"client_ip,omitempty" doc:"Your caller's address, for keys with allowed_cidrs."`
}

// RateLimitState is the state of a key's rate limit after a verification.
type RateLimitState struct {
	Limit     int64 `json:"limit"`
	Remaining int64 `json:"remaining"`
	Reset     int64 `json:"reset" doc:"Seconds until a unit returns."`
}

// VerifyResult is the answer of POST /v1/keys/verify, 200 for every outcome.
type VerifyResult struct {
	Valid        bool            `json:"valid"`
	Code         string          `json:"code" doc:"The outcome: VALID, MALFORMED, NOT_FOUND, REVOKED, EXPIRED, DISABLED, FORBIDDEN_ADDRESS, INSUFFICIENT_SCOPE, RATE_LIMITED, USAGE_EXCEEDED."`
	Key          *KeyView        `json:"key,omitempty" doc:"Absent for MALFORMED and NOT_FOUND."`
	RateLimit    *RateLimitState `json:"ratelimit,omitempty" doc:"Absent when the key has no rate limit."`
	MissingScope string          `json:"missing_scope,omitempty" doc:"For INSUFFICIENT_SCOPE: the first required scope not granted."`
	RetryAfter   int64           `json:"retry_after,omitempty" doc:"Seconds, for RATE_LIMITED, and for USAGE_EXCEEDED when a refill will restore credits."`
}

// StatsBody is the overview of GET /v1/stats.
type StatsBody struct {
	Keys  map[string]int64    `json:"keys" doc:"Number of keys per status: active, disabled, revoked, expired."`
	Usage keyward.UsageReport `json:"usage" doc:"Verifications of all keys per minute over the last hour (key_id is empty)."`
}

type idPath struct {
	ID string `path:"id" doc:"The key id."`
}

type listInput struct {
	Limit  int            `query:"limit" minimum:"1" maximum:"1000" default:"50"`
	Cursor string         `query:"cursor" maxLength:"64" doc:"next_cursor of the previous page."`
	Owner  string         `query:"owner" maxLength:"200"`
	Status keyward.Status `query:"status" enum:"active,disabled,revoked,expired"`
	Q      string         `query:"q" maxLength:"200" doc:"Name substring, case-insensitive."`
}

type usageInput struct {
	ID     string    `path:"id"`
	From   time.Time `query:"from" doc:"RFC 3339; default 24h before to."`
	To     time.Time `query:"to" doc:"RFC 3339; default now."`
	Bucket string    `query:"bucket" enum:"minute,hour,day" default:"hour"`
}

type auditInput struct {
	KeyID  string `query:"key_id"`
	Cursor string `query:"cursor" maxLength:"64"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"50"`
}

type body[T any] struct {
	Body T
}

func metadataJSON(m map[string]any) json.RawMessage {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	return b
}

func (s *Server) registerKeys() {
	admin := map[string]any{"auth": authAdmin}
	sec := []map[string][]string{{"admin": {}}}
	keys := []string{"keys"}
	const maxBody = 1<<20 + 1 // bodies over 1 MiB get 413

	huma.Register(s.api, huma.Operation{
		OperationID: "create-key", Method: http.MethodPost, Path: "/v1/keys", Summary: "Create a key",
		Description: "Issues a key. The response holds the secret (the full key string) once: it is not stored and never shown again.",
		Tags:        keys, DefaultStatus: http.StatusCreated, Metadata: admin, Security: sec, MaxBodyBytes: maxBody,
		Errors: []int{401, 403, 413, 422, 503},
	}, func(ctx context.Context, in *body[CreateKeyBody]) (*body[IssuedBody], error) {
		b := in.Body
		iss, err := s.svc.Create(ctx, keyward.CreateParams{
			Name: b.Name, Description: b.Description, Owner: b.Owner, Scopes: b.Scopes,
			Metadata: metadataJSON(b.Metadata), Prefix: b.Prefix, ExpiresAt: b.ExpiresAt, ExpiresIn: b.ExpiresIn,
			RateLimit: b.RateLimit.toKeyward(), Remaining: b.Remaining, Refill: b.Refill.toKeyward(),
			AllowedCIDRs: b.AllowedCIDRs, Enabled: b.Enabled,
		})
		if err != nil {
			return nil, s.errs.problem(err, "body")
		}
		return &body[IssuedBody]{Body: IssuedBody{Key: s.view(iss.Key), Secret: iss.Secret}}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "list-keys", Method: http.MethodGet, Path: "/v1/keys", Summary: "List keys",
		Description: "Newest first, by pages. next_cursor is absent on the last page.",
		Tags:        keys, Metadata: admin, Security: sec, Errors: []int{401, 403, 422, 503},
	}, func(ctx context.Context, in *listInput) (*body[PageBody], error) {
		page, err := s.svc.List(ctx, keyward.ListParams{Owner: in.Owner, Status: in.Status, Query: in.Q, Cursor: in.Cursor, Limit: in.Limit})
		if err != nil {
			return nil, s.errs.problem(err, "query")
		}
		out := PageBody{Items: make([]KeyView, len(page.Items)), NextCursor: page.NextCursor}
		for i, k := range page.Items {
			out.Items[i] = s.view(k)
		}
		return &body[PageBody]{Body: out}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "get-key", Method: http.MethodGet, Path: "/v1/keys/{id}", Summary: "Get a key",
		Tags: keys, Metadata: admin, Security: sec, Errors: []int{401, 403, 404, 503},
	}, func(ctx context.Context, in *idPath) (*body[KeyView], error) {
		k, err := s.svc.Get(ctx, in.ID)
		if err != nil {
			return nil, s.errs.problem(err, "path")
		}
		return &body[KeyView]{Body: s.view(k)}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "update-key", Method: http.MethodPatch, Path: "/v1/keys/{id}", Summary: "Update a key",
		Description: "Changes the fields present in the body. A revoked key cannot change (409).",
		Tags:        keys, Metadata: admin, Security: sec, MaxBodyBytes: maxBody, Errors: []int{401, 403, 404, 409, 413, 422, 503},
	}, func(ctx context.Context, in *struct {
		ID   string `path:"id"`
		Body UpdateKeyBody
	}) (*body[KeyView], error) {
		b := in.Body
		k, err := s.svc.Update(ctx, in.ID, keyward.UpdateParams{
			Name: b.Name, Description: b.Description, Owner: b.Owner, Scopes: b.Scopes,
			Metadata: metadataJSON(b.Metadata), Enabled: b.Enabled, ExpiresAt: b.ExpiresAt.keyward(), ExpiresIn: b.ExpiresIn,
			RateLimit:    convert(b.RateLimit, func(r RateLimitBody) keyward.RateLimit { return *r.toKeyward() }),
			Remaining:    b.Remaining.keyward(),
			Refill:       convert(b.Refill, func(r RefillBody) keyward.Refill { return *r.toKeyward() }),
			AllowedCIDRs: b.AllowedCIDRs,
		})
		if err != nil {
			return nil, s.errs.problem(err, "body")
		}
		return &body[KeyView]{Body: s.view(k)}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "delete-key", Method: http.MethodDelete, Path: "/v1/keys/{id}", Summary: "Delete a key",
		Description: "Its usage counts and audit entries stay.", Tags: keys, DefaultStatus: http.StatusNoContent,
		Metadata: admin, Security: sec, Errors: []int{401, 403, 404, 503},
	}, func(ctx context.Context, in *idPath) (*struct{}, error) {
		if err := s.svc.Delete(ctx, in.ID); err != nil {
			return nil, s.errs.problem(err, "path")
		}
		return nil, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "revoke-key", Method: http.MethodPost, Path: "/v1/keys/{id}/revoke", Summary: "Revoke a key",
		Description: "Final. Revoking a revoked key changes nothing.", Tags: keys,
		Metadata: admin, Security: sec, Errors: []int{401, 403, 404, 503},
	}, func(ctx context.Context, in *idPath) (*body[KeyView], error) {
		k, err := s.svc.Revoke(ctx, in.ID)
		if err != nil {
			return nil, s.errs.problem(err, "path")
		}
		return &body[KeyView]{Body: s.view(k)}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "rotate-key", Method: http.MethodPost, Path: "/v1/keys/{id}/rotate", Summary: "Rotate a key",
		Description: "Issues a successor with a new id and secret and every setting copied; the old key expires after the grace period. 409 for a revoked or already rotated key.",
		Tags:        keys, DefaultStatus: http.StatusCreated, Metadata: admin, Security: sec, MaxBodyBytes: maxBody,
		Errors: []int{401, 403, 404, 409, 413, 422, 503},
	}, func(ctx context.Context, in *struct {
		ID   string      `path:"id"`
		Body *RotateBody `required:"false"`
	}) (*body[IssuedBody], error) {
		p := keyward.RotateParams{}
		if b := in.Body; b != nil {
			p = keyward.RotateParams{GracePeriod: b.GracePeriod, ExpiresAt: b.ExpiresAt, ExpiresIn: b.ExpiresIn}
		}
		iss, err := s.svc.Rotate(ctx, in.ID, p)
		if err != nil {
			return nil, s.errs.problem(err, "body")
		}
		return &body[IssuedBody]{Body: IssuedBody{Key: s.view(iss.Key), Secret: iss.Secret}}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "key-usage", Method: http.MethodGet, Path: "/v1/keys/{id}/usage", Summary: "Usage of a key",
		Description: "Verifications per bucket and outcome (buckets without traffic are left out); kept after the key is deleted. 404 for an id that never existed.",
		Tags:        keys, Metadata: admin, Security: sec, Errors: []int{401, 403, 404, 422, 503},
	}, func(ctx context.Context, in *usageInput) (*body[keyward.UsageReport], error) {
		p := keyward.UsageParams{KeyID: in.ID, Bucket: in.Bucket}
		if !in.From.IsZero() {
			p.From = &in.From
		}
		if !in.To.IsZero() {
			p.To = &in.To
		}
		rep, err := s.svc.Usage(ctx, p)
		if err != nil {
			return nil, s.errs.problem(err, "query")
		}
		return &body[keyward.UsageReport]{Body: rep}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "stats", Method: http.MethodGet, Path: "/v1/stats", Summary: "Overview",
		Description: "How many keys are in each status, and verifications of all keys per minute over the last hour by outcome (the admin page's overview).",
		Tags:        []string{"audit"}, Metadata: admin, Security: sec, Errors: []int{401, 403, 503},
	}, func(ctx context.Context, _ *struct{}) (*body[StatsBody], error) {
		counts, err := s.svc.Counts(ctx)
		if err != nil {
			return nil, s.errs.problem(err, "query")
		}
		from := s.svc.Now().Add(-time.Hour)
		rep, err := s.svc.Usage(ctx, keyward.UsageParams{From: &from, Bucket: keyward.BucketMinute})
		if err != nil {
			return nil, s.errs.problem(err, "query")
		}
		out := StatsBody{Keys: map[string]int64{}, Usage: rep}
		for st, n := range counts {
			out.Keys[string(st)] = n
		}
		return &body[StatsBody]{Body: out}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "list-audit", Method: http.MethodGet, Path: "/v1/audit", Summary: "Audit log",
		Description: "Admin actions, newest first, paginated like /v1/keys; kept after a key is deleted.",
		Tags:        []string{"audit"}, Metadata: admin, Security: sec, Errors: []int{401, 403, 422, 503},
	}, func(ctx context.Context, in *auditInput) (*body[keyward.AuditPage], error) {
		page, err := s.svc.Audit(ctx, keyward.AuditParams{KeyID: in.KeyID, Cursor: in.Cursor, Limit: in.Limit})
		if err != nil {
			return nil, s.errs.problem(err, "query")
		}
		return &body[keyward.AuditPage]{Body: page}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "verify-key", Method: http.MethodPost, Path: "/v1/keys/verify", Summary: "Verify a key",
		Description: "For services in any language: checks the key your caller presented and spends its cost. 200 for every outcome; read valid and code.",
		Tags:        []string{"verification"}, Metadata: map[string]any{"auth": authVerify},
		Security: []map[string][]string{{"verify": {}}}, MaxBodyBytes: maxBody, Errors: []int{400, 401, 403, 413, 422, 503},
	}, func(ctx context.Context, in *body[VerifyBody]) (*body[VerifyResult], error) {
		b := in.Body
		req := keyward.VerifyRequest{Key: b.Key, Scopes: b.Scopes, Cost: b.Cost}
		if b.ClientIP != "" {
			ip, err := netip.ParseAddr(b.ClientIP)
			if err != nil {
				return nil, newProblem(http.StatusUnprocessableEntity, CodeValidationFailed, "the request breaks the rules listed in errors",
					ProblemDetail{Location: "body.client_ip", Message: "must be an IPv4 or IPv6 address"})
			}
			req.ClientIP = ip
		}
		res, err := s.svc.Verify(ctx, req)
		if err != nil {
			return nil, s.errs.problem(err, "body")
		}
		out := VerifyResult{Valid: res.Valid(), Code: res.Outcome.String(), MissingScope: res.MissingScope, RetryAfter: ceilSeconds(res.RetryAfter)}
		if res.Key != nil {
			v := s.view(res.Key)
			if res.Remaining >= 0 {
				v.Remaining = &res.Remaining
			}
			out.Key = &v
		}
		if d := res.RateLimit; d.Limit > 0 {
			out.RateLimit = &RateLimitState{Limit: d.Limit, Remaining: d.Remaining, Reset: ceilSeconds(d.Reset)}
		}
		return &body[VerifyResult]{Body: out}, nil
	})
}

// convert maps a nullable body field to the Service's Nullable.
func convert[A, B any](n nullable[A], f func(A) B) keyward.Nullable[B] {
	out := keyward.Nullable[B]{Set: n.Set}
	if n.Value != nil {
		v := f(*n.Value)
		out.Value = &v
	}
	return out
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

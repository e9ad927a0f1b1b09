package server

import (
	"context"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"
)

// maxBodyBytes is huma's body limit: bodies over 1 MiB get 413.
const maxBodyBytes = 1<<20 + 1

// body is the input or output of an operation that is only a JSON body.
type body[T any] struct {
	Body T
}

// route is one operation of the API served by huma, and its handler.
type route struct {
	id, method, path, summary, desc string
	tag                             string
	auth                            string // authAdmin, authVerify, or "" (the handler checks)
	status                          int    // on success; 0 means 200
	hasBody                         bool   // a request body, limited to maxBodyBytes
	errors                          []int
	register                        func(huma.API, huma.Operation)
}

// handle adapts a handler to a route.
func handle[I, O any](h func(context.Context, *I) (*O, error)) func(huma.API, huma.Operation) {
	return func(a huma.API, op huma.Operation) { huma.Register(a, op, h) }
}

// operation is the huma operation of r.
func (r route) operation() huma.Operation {
	op := huma.Operation{
		OperationID: r.id, Method: r.method, Path: r.path, Summary: r.summary, Description: r.desc,
		Tags: []string{r.tag}, DefaultStatus: r.status, Errors: r.errors,
		Metadata: map[string]any{"auth": r.auth},
	}
	if r.auth != "" { // "": the handler checks the request itself (a signature)
		op.Security = []map[string][]string{{r.auth: {}}}
	}
	if r.hasBody {
		op.MaxBodyBytes = maxBodyBytes
	}
	return op
}

// routes lists the operations served by huma: the admin API,
// POST /v1/keys/verify and POST /v1/leaks/github.
func (s *Server) routes() []route {
	return slices.Concat(s.keyRoutes(), s.policyRoutes(), s.ownerRoutes(), s.roleRoutes(), s.webhookRoutes(), s.leakRoutes())
}

func (s *Server) keyRoutes() []route {
	const keys, audit, verification = "keys", "audit", "verification"
	get, post := http.MethodGet, http.MethodPost
	return []route{
		{"create-key", post, "/v1/keys", "Create a key",
			"Issues a key. The response holds the secret (the full key string) once: it is not stored and never shown again.",
			keys, authAdmin, http.StatusCreated, true, []int{401, 403, 413, 422, 503}, handle(s.createKey)},
		{"list-keys", get, "/v1/keys", "List keys", "Newest first, by pages. next_cursor is absent on the last page.",
			keys, authAdmin, 0, false, []int{401, 403, 422, 503}, handle(s.listKeys)},
		{"get-key", get, "/v1/keys/{id}", "Get a key", "",
			keys, authAdmin, 0, false, []int{401, 403, 404, 503}, handle(s.getKey)},
		{"update-key", http.MethodPatch, "/v1/keys/{id}", "Update a key",
			"Changes the fields present in the body. A revoked key cannot change (409).",
			keys, authAdmin, 0, true, []int{401, 403, 404, 409, 413, 422, 503}, handle(s.updateKey)},
		{"delete-key", http.MethodDelete, "/v1/keys/{id}", "Delete a key", "Its usage counts and audit entries stay.",
			keys, authAdmin, http.StatusNoContent, false, []int{401, 403, 404, 503}, handle(s.deleteKey)},
		{"revoke-key", post, "/v1/keys/{id}/revoke", "Revoke a key", "Final. Revoking a revoked key changes nothing.",
			keys, authAdmin, 0, false, []int{401, 403, 404, 503}, handle(s.revokeKey)},
		{"rotate-key", post, "/v1/keys/{id}/rotate", "Rotate a key",
			"Issues a successor with a new id and secret and every setting copied; the old key expires after the grace period. 409 for a revoked or already rotated key.",
			keys, authAdmin, http.StatusCreated, true, []int{401, 403, 404, 409, 413, 422, 503}, handle(s.rotateKey)},
		{"key-usage", get, "/v1/keys/{id}/usage", "Usage of a key",
			"Verifications per bucket and outcome (buckets without traffic are left out); kept after the key is deleted. 404 for an id that never existed.",
			keys, authAdmin, 0, false, []int{401, 403, 404, 422, 503}, handle(s.keyUsage)},
		{"stats", get, "/v1/stats", "Overview",
			"How many keys are in each status, and verifications of all keys per minute over the last hour by outcome (the admin page's overview).",
			audit, authAdmin, 0, false, []int{401, 403, 503}, handle(s.stats)},
		{"list-audit", get, "/v1/audit", "Audit log",
			"Admin actions, newest first, paginated like /v1/keys; kept after a key is deleted. Owner and role actions have an empty key_id and name the owner or role in details; policy.update (a change of the key lifetime policy) has an empty key_id and the old and new policy in details.",
			audit, authAdmin, 0, false, []int{401, 403, 422, 503}, handle(s.listAudit)},
		{"verify-key", post, "/v1/keys/verify", "Verify a key",
			"For services in any language: checks the key your caller presented and spends its cost. 200 for every outcome; read valid and code.",
			verification, authVerify, 0, true, []int{400, 401, 403, 413, 422, 503}, handle(s.verifyKey)},
	}
}

func (s *Server) ownerRoutes() []route {
	const owners, path = "owners", "/v1/owners/{name}"
	return []route{
		{"put-owner", http.MethodPut, path, "Create or replace an owner record",
			"Its settings are shared by every key whose owner is this name: rate limits counted across them, credits spent by all. " +
				"Omitted fields take their defaults. 201 when the record is new, 200 when it replaced one.",
			owners, authAdmin, http.StatusCreated, true, []int{401, 403, 413, 422, 503}, handle(s.putOwner)},
		{"update-owner", http.MethodPatch, path, "Update an owner record",
			"Changes the fields present in the body, e.g. a top-up of remaining. 404 if there is no record.",
			owners, authAdmin, 0, true, []int{401, 403, 404, 413, 422, 503}, handle(s.updateOwner)},
		{"get-owner", http.MethodGet, path, "Get an owner record", "With key_count, the keys that carry this owner. 404 if there is no record.",
			owners, authAdmin, 0, false, []int{401, 403, 404, 503}, handle(s.getOwner)},
		{"list-owners", http.MethodGet, "/v1/owners", "List owner records", "By name, in pages like /v1/keys.",
			owners, authAdmin, 0, false, []int{401, 403, 422, 503}, handle(s.listOwners)},
		{"delete-owner", http.MethodDelete, path, "Delete an owner record",
			"The keys keep their owner string; the shared limits and credits end.",
			owners, authAdmin, http.StatusNoContent, false, []int{401, 403, 404, 503}, handle(s.deleteOwner)},
		{"owner-usage", http.MethodGet, path + "/usage", "Usage of an owner",
			"Like key usage, summed over the keys that carried this owner when they were used. 404 for a name with no record, no key and no usage in the range.",
			owners, authAdmin, 0, false, []int{401, 403, 404, 422, 503}, handle(s.ownerUsage)},
	}
}

func (s *Server) roleRoutes() []route {
	const roles, path = "roles", "/v1/roles/{name}"
	return []route{
		{"put-role", http.MethodPut, path, "Create or replace a role",
			"A role is a named set of scopes; a key's effective scopes are its own plus those of its roles. " +
				"A change reaches every key that has the role. 201 when the role is new, 200 when it replaced one.",
			roles, authAdmin, http.StatusCreated, true, []int{401, 403, 413, 422, 503}, handle(s.putRole)},
		{"list-roles", http.MethodGet, "/v1/roles", "List roles", "By name, in pages like /v1/keys.",
			roles, authAdmin, 0, false, []int{401, 403, 422, 503}, handle(s.listRoles)},
		{"get-role", http.MethodGet, path, "Get a role", "",
			roles, authAdmin, 0, false, []int{401, 403, 404, 503}, handle(s.getRole)},
		{"delete-role", http.MethodDelete, path, "Delete a role", "409 while a key has the role.",
			roles, authAdmin, http.StatusNoContent, false, []int{401, 403, 404, 409, 503}, handle(s.deleteRole)},
	}
}

func (s *Server) webhookRoutes() []route {
	const hooks, path = "webhooks", "/v1/webhooks/{id}"
	get, post := http.MethodGet, http.MethodPost
	return []route{
		{"create-webhook", post, "/v1/webhooks", "Create a webhook endpoint",
			"Events are POSTed to url, signed as Standard Webhooks v1 says with the secret of the answer, which is shown only this once. " +
				"At most 100 endpoints (409 past that).",
			hooks, authAdmin, http.StatusCreated, true, []int{401, 403, 409, 413, 422, 503}, handle(s.createWebhook)},
		{"list-webhooks", get, "/v1/webhooks", "List webhook endpoints", "Every endpoint, oldest first; never a secret.",
			hooks, authAdmin, 0, false, []int{401, 403, 503}, handle(s.listWebhooks)},
		{"get-webhook", get, path, "Get a webhook endpoint", "",
			hooks, authAdmin, 0, false, []int{401, 403, 404, 503}, handle(s.getWebhook)},
		{"update-webhook", http.MethodPatch, path, "Update a webhook endpoint",
			"Changes the members present: url, events, description, enabled. A disabled endpoint gets no new events; the deliveries it already had wait, and resume when it is enabled again (those older than the retention, 7 days, are pruned).",
			hooks, authAdmin, 0, true, []int{401, 403, 404, 413, 422, 503}, handle(s.updateWebhook)},
		{"delete-webhook", http.MethodDelete, path, "Delete a webhook endpoint", "With its pending deliveries and its delivery log.",
			hooks, authAdmin, http.StatusNoContent, false, []int{401, 403, 404, 503}, handle(s.deleteWebhook)},
		{"test-webhook", post, path + "/test", "Send a test event",
			"Queues a webhook.test event (data {}) for this endpoint alone; its delivery shows in the deliveries. 409 for a disabled endpoint.",
			hooks, authAdmin, http.StatusAccepted, false, []int{401, 403, 404, 409, 503}, handle(s.testWebhook)},
		{"webhook-deliveries", get, path + "/deliveries", "Delivery attempts of a webhook endpoint",
			"Every attempt, newest first, by pages like /v1/keys: the event, the attempt number, the HTTP status (0 when no answer came), the error, and when the next attempt is due (null when the delivery is done).",
			hooks, authAdmin, 0, false, []int{401, 403, 404, 422, 503}, handle(s.webhookDeliveries)},
	}
}

// registerRoutes registers the operations, then sets the limits on their
// schemas.
func (s *Server) registerRoutes() error {
	s.adminPatterns = map[string]bool{}
	for _, r := range s.routes() {
		r.register(s.api, r.operation())
		if r.auth == authAdmin {
			s.adminPatterns[r.method+" "+r.path] = true // as humago registers it
		}
		if r.method == http.MethodPut {
			documentReplaced(s.api.OpenAPI(), r.path)
		}
	}
	if err := applyRules(s.api.OpenAPI()); err != nil {
		return err
	}
	return checkSchemas(s.api.OpenAPI())
}

// documentReplaced adds the 200 answer of a PUT that replaced a record: the
// same body as its 201.
func documentReplaced(oapi *huma.OpenAPI, path string) {
	op := oapi.Paths[path].Put
	created := *op.Responses["201"]
	created.Description = "Replaced"
	op.Responses["200"] = &created
	op.Responses["201"].Description = "Created"
}

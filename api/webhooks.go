package api

import "github.com/keyward/keyward"

// CreateWebhookBody is the body of POST /v1/webhooks.
type CreateWebhookBody struct {
	URL         string   `json:"url" doc:"Where deliveries are POSTed: an absolute http or https URL."`
	Events      []string `json:"events" nullable:"false" doc:"The event types the endpoint receives, or [\"*\"] for every type, present and future."`
	Description string   `json:"description,omitempty"`
	Enabled     *bool    `json:"enabled,omitempty" doc:"Default true. A disabled endpoint gets no new events; the deliveries it already had wait until it is enabled again."`
}

// NewCreateWebhookBody is the body that asks for p.
func NewCreateWebhookBody(p keyward.WebhookParams) CreateWebhookBody {
	return CreateWebhookBody{URL: p.URL, Events: p.Events, Description: p.Description, Enabled: p.Enabled}
}

// Params returns what the body asks for.
func (b CreateWebhookBody) Params() keyward.WebhookParams {
	return keyward.WebhookParams{URL: b.URL, Events: b.Events, Description: b.Description, Enabled: b.Enabled}
}

// UpdateWebhookBody is the body of PATCH /v1/webhooks/{id}: only the members
// present change.
type UpdateWebhookBody struct {
	URL         *string   `json:"url,omitempty"`
	Events      *[]string `json:"events,omitempty" doc:"Replaces the list of types."`
	Description *string   `json:"description,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
}

// NewUpdateWebhookBody is the body that asks for p.
func NewUpdateWebhookBody(p keyward.WebhookUpdate) UpdateWebhookBody {
	return UpdateWebhookBody(p)
}

// Params returns what the body asks for.
func (b UpdateWebhookBody) Params() keyward.WebhookUpdate {
	return keyward.WebhookUpdate(b)
}

// WebhookView is an endpoint as the API shows it: never its secret.
type WebhookView struct {
	keyward.Webhook
}

// NewWebhookView shows w; its events are never null.
func NewWebhookView(w *keyward.Webhook) WebhookView {
	v := WebhookView{Webhook: *w}
	v.Events = nonNil(v.Events)
	return v
}

// CreatedWebhookBody is a new endpoint with its signing secret, shown once:
// the answer of POST /v1/webhooks.
type CreatedWebhookBody struct {
	Webhook WebhookView `json:"webhook"`
	Secret  string      `json:"secret" doc:"The signing secret, whsec_ and base64: the key of the webhook-signature HMAC. It is shown only this once."`
}

// NewCreatedWebhookBody shows c.
func NewCreatedWebhookBody(c keyward.CreatedWebhook) CreatedWebhookBody {
	return CreatedWebhookBody{Webhook: NewWebhookView(c.Webhook), Secret: c.Secret}
}

// Created returns the endpoint and its secret.
func (b CreatedWebhookBody) Created() keyward.CreatedWebhook {
	return keyward.CreatedWebhook{Webhook: &b.Webhook.Webhook, Secret: b.Secret}
}

// WebhookListBody is every endpoint, oldest first: the answer of
// GET /v1/webhooks (there are at most keyward.MaxWebhooks, so no pages).
type WebhookListBody struct {
	Items []WebhookView `json:"items" nullable:"false"`
}

// NewWebhookListBody shows ws.
func NewWebhookListBody(ws []*keyward.Webhook) WebhookListBody {
	return WebhookListBody{Items: nonNil(convertAll(ws, NewWebhookView))}
}

// Webhooks returns the endpoints that b shows.
func (b WebhookListBody) Webhooks() []*keyward.Webhook {
	out := make([]*keyward.Webhook, len(b.Items))
	for i := range b.Items {
		out[i] = &b.Items[i].Webhook
	}
	return out
}

// TestWebhookBody is the answer of POST /v1/webhooks/{id}/test.
type TestWebhookBody struct {
	EventID string `json:"event_id" doc:"The id of the webhook.test event queued: the webhook-id of its delivery, and the event_id of its attempts in the deliveries."`
}

// DeliveryPageBody is a page of an endpoint's delivery attempts, newest
// first: the answer of GET /v1/webhooks/{id}/deliveries.
type DeliveryPageBody struct {
	Items      []keyward.Attempt `json:"items" nullable:"false"`
	NextCursor string            `json:"next_cursor,omitempty" doc:"Absent when nothing follows."`
}

// NewDeliveryPageBody shows p.
func NewDeliveryPageBody(p keyward.AttemptPage) DeliveryPageBody {
	return DeliveryPageBody{Items: nonNil(p.Items), NextCursor: p.NextCursor}
}

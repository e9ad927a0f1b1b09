package server

import (
	"context"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// The webhook operations of the admin API: create (the secret shown once),
// list, get, update, delete, test and the delivery log. The Service writes
// the audit entries webhook.create, webhook.update and webhook.delete.

type webhookPath struct {
	ID string `path:"id" doc:"The endpoint id (wh_...)."`
}

type updateWebhookInput struct {
	ID   string `path:"id" doc:"The endpoint id (wh_...)."`
	Body api.UpdateWebhookBody
}

type deliveriesInput struct {
	ID     string `path:"id" doc:"The endpoint id (wh_...)."`
	Limit  int    `query:"limit"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page."`
}

// createdWebhookOutput is the answer of a create: the secret is in it, so
// no cache may keep it.
type createdWebhookOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         api.CreatedWebhookBody
}

// webhookSubject is the subject of the webhook operations.
func webhookSubject(location string) subject {
	return subject{field: under(location), notFound: "no webhook endpoint with that id"}
}

// webhookView answers with w, or with the problem of err at location.
func (s *Server) webhookView(w *keyward.Webhook, err error, location string) (*body[api.WebhookView], error) {
	if err != nil {
		return nil, s.errs.problemOf(err, webhookSubject(location))
	}
	return &body[api.WebhookView]{Body: api.NewWebhookView(w)}, nil
}

func (s *Server) createWebhook(ctx context.Context, in *body[api.CreateWebhookBody]) (*createdWebhookOutput, error) {
	c, err := s.svc.CreateWebhook(ctx, in.Body.Params())
	if err != nil {
		return nil, s.errs.problemOf(err, subject{field: under("body"), conflict: "there are 100 webhook endpoints, the most allowed: delete one first"})
	}
	return &createdWebhookOutput{CacheControl: "no-store", Body: api.NewCreatedWebhookBody(c)}, nil
}

func (s *Server) listWebhooks(ctx context.Context, _ *struct{}) (*body[api.WebhookListBody], error) {
	ws, err := s.svc.ListWebhooks(ctx)
	if err != nil {
		return nil, s.errs.problemOf(err, webhookSubject("query"))
	}
	return &body[api.WebhookListBody]{Body: api.NewWebhookListBody(ws)}, nil
}

func (s *Server) getWebhook(ctx context.Context, in *webhookPath) (*body[api.WebhookView], error) {
	w, err := s.svc.GetWebhook(ctx, in.ID)
	return s.webhookView(w, err, "path")
}

func (s *Server) updateWebhook(ctx context.Context, in *updateWebhookInput) (*body[api.WebhookView], error) {
	w, err := s.svc.UpdateWebhook(ctx, in.ID, in.Body.Params())
	return s.webhookView(w, err, "body")
}

func (s *Server) deleteWebhook(ctx context.Context, in *webhookPath) (*struct{}, error) {
	return s.deleted(s.svc.DeleteWebhook(ctx, in.ID), webhookSubject("path"))
}

func (s *Server) testWebhook(ctx context.Context, in *webhookPath) (*body[api.TestWebhookBody], error) {
	e, err := s.svc.TestWebhook(ctx, in.ID)
	if err != nil {
		return nil, s.errs.problemOf(err, subject{field: under("path"), notFound: "no webhook endpoint with that id",
			conflict: "the endpoint is disabled: enable it to test it"})
	}
	return &body[api.TestWebhookBody]{Body: api.TestWebhookBody{EventID: e.ID}}, nil
}

func (s *Server) webhookDeliveries(ctx context.Context, in *deliveriesInput) (*body[api.DeliveryPageBody], error) {
	page, err := s.svc.WebhookDeliveries(ctx, in.ID, keyward.AttemptParams{Cursor: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, s.errs.problemOf(err, webhookSubject("query"))
	}
	return &body[api.DeliveryPageBody]{Body: api.NewDeliveryPageBody(page)}, nil
}

// webhookRules are the limits of the webhook bodies.
func webhookRules() []rule {
	types := append([]any{keyward.AllEvents}, anySlice(keyward.EventTypes())...)
	var rs []rule
	for _, b := range []string{"CreateWebhookBody", "UpdateWebhookBody"} {
		rs = append(rs,
			rule{b, "url", length(1, keyward.MaxWebhookURLLength)},
			rule{b, "description", length(0, keyward.MaxDescriptionLength)},
			rule{b, "events", items(func(s *huma.Schema) { s.Enum = types })},
		)
	}
	return append(rs, rule{"CreateWebhookBody", "events", func(s *huma.Schema) { s.MinItems = ptr(1) }})
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

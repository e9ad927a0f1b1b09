// Package client talks to a running keyward serve: the admin API, and
// verification for Go services that cannot reach keyward's database.
//
//	admin, err := client.New(keywardURL, adminToken, nil) // keywardURL: e.g. "https://keyward.internal"
//	if err != nil {
//		log.Fatal(err)
//	}
//	issued, err := admin.CreateKey(ctx, keyward.CreateParams{Name: "billing", Scopes: []string{"invoices:read"}})
//	if err != nil {
//		log.Fatal(err)
//	}
//
// [Verifier] verifies through the server with a short local cache and
// implements httpauth.Verifier, so a service guards its routes with no
// database access:
//
//	c, err := client.New(keywardURL, verifyKey, nil) // verifyKey: a key with scope keyward:verify
//	if err != nil {
//		log.Fatal(err)
//	}
//	v, err := client.NewVerifier(c, &client.VerifierOptions{TTL: 10 * time.Second})
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux.Handle("/", httpauth.New(v, nil)(yourHandler))
//
// Errors from the server are *[Error] values; they match keyward's
// sentinels with errors.Is (404 ErrNotFound, 409 ErrConflict, 400 and 422
// ErrInvalid, 503 and network failures ErrUnavailable).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// Options tunes [New]. The zero value (or nil) gives the defaults.
type Options struct {
	// HTTPClient sends the requests; nil means a client with a 10s timeout.
	HTTPClient *http.Client
}

// Client calls one keyward server with one credential (an admin token or
// key; for Verify, a key with scope keyward:verify). It is safe for
// concurrent use.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// New returns a client for the server at baseURL (http:// or https://).
func New(baseURL, token string, opts *Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: %q is not an http:// or https:// URL", baseURL)
	}
	c := &Client{base: u, token: token, hc: &http.Client{Timeout: 10 * time.Second}}
	if opts != nil && opts.HTTPClient != nil {
		c.hc = opts.HTTPClient
	}
	return c, nil
}

// Error is a problem document (RFC 9457) returned by the server: status,
// code, detail and, for VALIDATION_FAILED, each broken rule in Errors.
type Error struct {
	api.Problem
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("keyward: %d %s: %s", e.Status, e.Code, e.Detail)
	for _, d := range e.Errors {
		msg += fmt.Sprintf("; %s: %s", d.Location, d.Message)
	}
	return msg
}

// Is maps the status to keyward's sentinel errors.
func (e *Error) Is(target error) bool {
	switch e.Status {
	case http.StatusNotFound:
		return target == keyward.ErrNotFound
	case http.StatusConflict:
		return target == keyward.ErrConflict
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return target == keyward.ErrInvalid
	case http.StatusServiceUnavailable:
		return target == keyward.ErrUnavailable
	}
	return false
}

// do sends a request and decodes a JSON answer into out (if not nil). path
// is escaped: its segments went through url.PathEscape.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	_, err := c.send(ctx, method, path, query, body, out)
	return err
}

// send is do, returning the status of a success too.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body, out any) (int, error) {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return 0, fmt.Errorf("keyward: bad path %q: %w", path, err)
	}
	u.Path = p
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("keyward: %s %s: %v: %w", method, path, err, keyward.ErrUnavailable)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, fmt.Errorf("keyward: reading the answer to %s %s: %v: %w", method, path, err, keyward.ErrUnavailable)
	}
	if resp.StatusCode >= 400 {
		e := &Error{}
		if json.Unmarshal(raw, e) != nil || e.Code == "" {
			e.Code, e.Detail = "UNEXPECTED", http.StatusText(resp.StatusCode)
		}
		e.Status = resp.StatusCode
		return resp.StatusCode, e
	}
	if out == nil || len(raw) == 0 {
		return resp.StatusCode, nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return resp.StatusCode, fmt.Errorf("keyward: decoding the answer to %s %s: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// BaseURL returns the server's URL.
func (c *Client) BaseURL() string { return c.base.String() }

// CreateKey creates a key; the Issued secret is shown only this once.
func (c *Client) CreateKey(ctx context.Context, p keyward.CreateParams) (keyward.Issued, error) {
	var out api.IssuedBody
	if err := c.do(ctx, http.MethodPost, "/v1/keys", nil, api.NewCreateKeyBody(p), &out); err != nil {
		return keyward.Issued{}, err
	}
	return out.Issued(), nil
}

// GetKey returns a key.
func (c *Client) GetKey(ctx context.Context, id string) (*keyward.Key, error) {
	return c.key(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(id), nil)
}

// key sends a request answered with a key.
func (c *Client) key(ctx context.Context, method, path string, body any) (*keyward.Key, error) {
	var v api.KeyView
	if err := c.do(ctx, method, path, nil, body, &v); err != nil {
		return nil, err
	}
	return &v.Key, nil
}

// ListKeys returns a page of keys, newest first.
func (c *Client) ListKeys(ctx context.Context, p keyward.ListParams) (keyward.Page, error) {
	q := url.Values{}
	for k, v := range map[string]string{"owner": p.Owner, "status": string(p.Status), "q": p.Query, "cursor": p.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	hygieneQuery(q, p)
	var out api.PageBody
	if err := c.do(ctx, http.MethodGet, "/v1/keys", q, nil, &out); err != nil {
		return keyward.Page{}, err
	}
	return out.Page(), nil
}

// UpdateKey changes the fields set in p.
func (c *Client) UpdateKey(ctx context.Context, id string, p keyward.UpdateParams) (*keyward.Key, error) {
	return c.key(ctx, http.MethodPatch, "/v1/keys/"+url.PathEscape(id), api.NewUpdateKeyBody(p))
}

// RevokeKey revokes a key for good.
func (c *Client) RevokeKey(ctx context.Context, id string) (*keyward.Key, error) {
	return c.key(ctx, http.MethodPost, "/v1/keys/"+url.PathEscape(id)+"/revoke", nil)
}

// RotateKey issues a successor of a key.
func (c *Client) RotateKey(ctx context.Context, id string, p keyward.RotateParams) (keyward.Issued, error) {
	var out api.IssuedBody
	if err := c.do(ctx, http.MethodPost, "/v1/keys/"+url.PathEscape(id)+"/rotate", nil, api.NewRotateBody(p), &out); err != nil {
		return keyward.Issued{}, err
	}
	return out.Issued(), nil
}

// DeleteKey deletes a key.
func (c *Client) DeleteKey(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), nil, nil, nil)
}

// Usage returns the usage report of a key.
func (c *Client) Usage(ctx context.Context, p keyward.UsageParams) (keyward.UsageReport, error) {
	var out keyward.UsageReport
	err := c.do(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(p.KeyID)+"/usage", usageQuery(p), nil, &out)
	return out, err
}

// usageQuery is the query of a usage report.
func usageQuery(p keyward.UsageParams) url.Values {
	q := url.Values{}
	if p.From != nil {
		q.Set("from", p.From.Format(time.RFC3339))
	}
	if p.To != nil {
		q.Set("to", p.To.Format(time.RFC3339))
	}
	if p.Bucket != "" {
		q.Set("bucket", p.Bucket)
	}
	return q
}

// pageQuery is the query of a page: a filter (when value is not ""), the
// cursor and the limit (when set).
func pageQuery(filter, value, cursor string, limit int) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{filter: value, "cursor": cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

// Audit returns a page of the audit log.
func (c *Client) Audit(ctx context.Context, p keyward.AuditParams) (keyward.AuditPage, error) {
	q := pageQuery("key_id", p.KeyID, p.Cursor, p.Limit)
	var out keyward.AuditPage
	err := c.do(ctx, http.MethodGet, "/v1/audit", q, nil, &out)
	return out, err
}

// Verify asks the server to verify a key (POST /v1/keys/verify) and spend
// its cost. Every outcome is a Result; the error is for the server being
// unreachable or refusing the client's credential.
func (c *Client) Verify(ctx context.Context, req keyward.VerifyRequest) (keyward.Result, error) {
	var ans api.VerifyResult
	if err := c.do(ctx, http.MethodPost, "/v1/keys/verify", nil, api.NewVerifyBody(req), &ans); err != nil {
		return keyward.Result{}, err
	}
	res, err := ans.Result()
	if err != nil {
		return keyward.Result{}, fmt.Errorf("keyward: the answer to POST /v1/keys/verify: %w", err)
	}
	return res, nil
}

// errUnavailable reports whether err means the server could not answer.
func errUnavailable(err error) bool { return errors.Is(err, keyward.ErrUnavailable) }

package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/httpauth"
)

// problem is the error of every answer of the API: an api.Problem that huma
// can send (a huma.StatusError with its content type). huma names its schema
// Problem.
type problem struct {
	api.Problem
	// cause is why a 5xx happened, for the log only (see logProblems).
	cause error
}

func (p *problem) Error() string { return p.Title + ": " + p.Detail }

// GetStatus returns the HTTP status (huma.StatusError).
func (p *problem) GetStatus() int { return p.Status }

// ContentType makes huma send application/problem+json.
func (p *problem) ContentType(string) string { return "application/problem+json" }

func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusNotAcceptable, http.StatusMethodNotAllowed,
		http.StatusRequestTimeout, http.StatusRequestHeaderFieldsTooLarge:
		return api.CodeInvalidRequest
	case http.StatusUnauthorized:
		return api.CodeUnauthorized
	case http.StatusForbidden:
		return api.CodeForbidden
	case http.StatusNotFound:
		return api.CodeNotFound
	case http.StatusConflict:
		return api.CodeConflict
	case http.StatusRequestEntityTooLarge:
		return api.CodePayloadTooLarge
	case http.StatusUnprocessableEntity:
		return api.CodeValidationFailed
	case http.StatusServiceUnavailable:
		return api.CodeUnavailable
	}
	return api.CodeInternal
}

func newProblem(status int, code, detail string, details ...api.ProblemDetail) *problem {
	if code == "" {
		code = codeFor(status)
	}
	return &problem{Problem: api.Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Code: code, Errors: details}}
}

// hookErrors makes huma build *problem errors. huma v2.37 offers no per-API
// way: huma.Config has no error constructor, and huma reads the package
// variables NewError and NewErrorWithContext both to answer and to document
// the error schema. So this is the one package-level assignment in keyward
// (ARCHITECTURE.md lists it): every keyward server sets the same function,
// once.
var hookErrors = sync.OnceFunc(func() {
	huma.NewError = newHumaError
	huma.NewErrorWithContext = func(_ huma.Context, status int, msg string, errs ...error) huma.StatusError {
		return huma.NewError(status, msg, errs...)
	}
})

// humaBodyReadError is the message huma gives the 500 of a request body it
// could not read (huma.go, readBody).
const humaBodyReadError = "cannot read request body"

// newHumaError is huma's error constructor in keyward: every error is a
// *problem with keyward's code and wording.
func newHumaError(status int, msg string, errs ...error) huma.StatusError {
	if status == http.StatusInternalServerError && msg == humaBodyReadError {
		// A body shorter than its Content-Length, broken chunked
		// encoding, a client that went away: the client's fault, not ours.
		return newProblem(http.StatusBadRequest, api.CodeInvalidRequest,
			"the request body could not be read: it ended before its announced length, or its chunked encoding is broken")
	}
	var details []api.ProblemDetail
	for _, e := range errs {
		if e == nil {
			continue
		}
		d := api.ProblemDetail{Message: e.Error()}
		var ed *huma.ErrorDetail
		if errors.As(e, &ed) {
			if ds, ok := asBodyProblems(ed); ok { // decodeJSON's checks
				details = append(details, ds...)
				continue
			}
			// Never echo ed.Value: for a body that is not JSON it is the
			// whole body, which may hold a key.
			d = api.ProblemDetail{Location: ed.Location, Message: ed.Message}
		}
		details = append(details, d)
	}
	for i, d := range details {
		// A member name is echoed in its location ("unexpected property"):
		// never a key.
		details[i] = api.ProblemDetail{Location: httpauth.RedactKeys(d.Location), Message: httpauth.RedactKeys(d.Message)}
	}
	switch status {
	case http.StatusUnsupportedMediaType:
		// The contract has 400 for a body that is not JSON; a body sent
		// under another media type is that.
		status, details = http.StatusBadRequest, nil
		msg = "the request body must be JSON: send it as Content-Type: application/json"
	case http.StatusBadRequest:
		msg = "the request body is not valid JSON"
	case http.StatusRequestTimeout:
		msg = "the request body did not arrive in time"
	case http.StatusRequestEntityTooLarge:
		msg = "the request body is larger than 1 MiB"
	case http.StatusUnprocessableEntity:
		msg = "the request breaks the rules listed in errors"
	}
	if status >= 500 {
		// The details go to the log only (logProblems), never to the client.
		p := newProblem(status, "", "internal error")
		p.cause = errors.Join(append([]error{errors.New(msg)}, errs...)...)
		return p
	}
	return newProblem(status, "", msg, details...)
}

// logProblems is the huma transformer of every response: it gives every
// problem its X-Keyward-Code header and logs the cause of a 5xx that huma
// built (those of the Service's errors are logged by errorMapper).
func logProblems(log *slog.Logger) huma.Transformer {
	return func(ctx huma.Context, _ string, v any) (any, error) {
		p, ok := v.(*problem)
		if !ok {
			return v, nil
		}
		if p.Code != "" {
			ctx.SetHeader("X-Keyward-Code", p.Code)
		}
		if p.Status != http.StatusTooManyRequests {
			_, w := humago.Unwrap(ctx)
			dropRateLimitHeaders(w.Header())
		}
		if p.cause != nil {
			log.LogAttrs(ctx.Context(), slog.LevelError, "internal error",
				slog.String("method", ctx.Method()), slog.String("path", httpauth.RedactKeys(ctx.URL().Path)),
				slog.String("err", httpauth.RedactKeys(p.cause.Error())))
		}
		return v, nil
	}
}

// errorMapper turns Service errors into problems; internal ones are logged
// with their detail and answered generically.
type errorMapper struct{ log *slog.Logger }

// subject describes what an operation works on, for its problems.
type subject struct {
	// field returns the location of a validation problem's field.
	field func(string) string
	// notFound is the detail of a 404.
	notFound string
	// conflict is the detail of a 409; "" derives it from the error.
	conflict string
}

// under locates every field under location ("body", "query", "path").
func under(location string) func(string) string {
	return func(field string) string {
		if field == "" {
			return location
		}
		return location + "." + field
	}
}

// problem maps err for a key operation. location prefixes validation
// fields ("body", "query").
func (m errorMapper) problem(err error, location string) *problem {
	return m.problemOf(err, subject{field: under(location), notFound: "no key with that id"})
}

// problemOf maps err for an operation on sub.
func (m errorMapper) problemOf(err error, sub subject) *problem {
	var ve *keyward.ValidationError
	switch {
	case errors.As(err, &ve):
		details := make([]api.ProblemDetail, 0, len(ve.Problems))
		for _, p := range ve.Problems {
			details = append(details, api.ProblemDetail{Location: sub.field(p.Field), Message: p.Message})
		}
		return newProblem(http.StatusUnprocessableEntity, api.CodeValidationFailed, "the request breaks the rules listed in errors", details...)
	case errors.Is(err, keyward.ErrNotFound):
		return newProblem(http.StatusNotFound, api.CodeNotFound, sub.notFound)
	case errors.Is(err, keyward.ErrConflict):
		detail := sub.conflict
		if detail == "" {
			detail = conflictDetail(err)
		}
		return newProblem(http.StatusConflict, api.CodeConflict, detail)
	case errors.Is(err, context.Canceled):
		// net/http canceled the request: the client closed (or half-closed)
		// its connection. Not our fault, and no one reads the answer.
		m.log.Debug("the client went away before the answer was ready", "err", err)
		return clientClosed()
	case errors.Is(err, keyward.ErrUnavailable):
		m.log.Error("store unavailable", "err", err)
		return newProblem(http.StatusServiceUnavailable, api.CodeUnavailable, "the key store is unavailable; try again")
	}
	m.log.Error("internal error", "err", err)
	return newProblem(http.StatusInternalServerError, api.CodeInternal, "internal error")
}

// statusClientClosed is the status (nginx's) of a request whose client went
// away before the answer was ready; codeClientClosed its code. Only the
// access log sees them.
const (
	statusClientClosed = 499
	codeClientClosed   = "CLIENT_CLOSED_REQUEST"
)

func clientClosed() *problem {
	p := newProblem(statusClientClosed, codeClientClosed, "the client closed the request before the answer was ready")
	p.Title = "Client Closed Request"
	return p
}

// conflictDetail says why a write conflicts, without internals.
func conflictDetail(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "revoked"):
		return "the key is revoked; revocation is final"
	case strings.Contains(msg, "rotated"):
		return "the key was already rotated"
	}
	return "the request conflicts with the key's state"
}

// dropRateLimitHeaders removes the RateLimit headers that the admin
// credential's rate limit set (see authenticate) from an answer that is
// neither 2xx nor 429: they go only on those.
func dropRateLimitHeaders(h http.Header) {
	h.Del("RateLimit")
	h.Del("RateLimit-Policy")
}

// writeProblem writes p outside huma (middleware, plain handlers).
func writeProblem(w http.ResponseWriter, p *problem) {
	b, _ := json.Marshal(p)
	h := w.Header()
	if p.Status != http.StatusTooManyRequests {
		dropRateLimitHeaders(h)
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if p.Code != "" {
		h.Set("X-Keyward-Code", p.Code)
	}
	w.WriteHeader(p.Status)
	w.Write(b)
}

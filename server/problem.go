package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/keyward/keyward"
)

// Problem codes that are not verification outcomes.
const (
	CodeUnauthorized     = "UNAUTHORIZED"
	CodeForbidden        = "FORBIDDEN"
	CodeInvalidRequest   = "INVALID_REQUEST"
	CodeValidationFailed = "VALIDATION_FAILED"
	CodeNotFound         = "NOT_FOUND"
	CodeConflict         = "CONFLICT"
	CodePayloadTooLarge  = "PAYLOAD_TOO_LARGE"
	CodeUnavailable      = "UNAVAILABLE"
	CodeInternal         = "INTERNAL"
)

// Problem is an RFC 9457 problem document with keyward's code member. It is
// the error type of every API response.
type Problem struct {
	Type   string          `json:"type" doc:"Always about:blank: the status and code say what happened."`
	Title  string          `json:"title" doc:"The HTTP status text."`
	Status int             `json:"status"`
	Detail string          `json:"detail,omitempty"`
	Code   string          `json:"code" doc:"A stable, machine-readable code: a verification outcome, or UNAUTHORIZED, FORBIDDEN, INVALID_REQUEST, VALIDATION_FAILED, NOT_FOUND, CONFLICT, PAYLOAD_TOO_LARGE, UNAVAILABLE, INTERNAL."`
	Errors []ProblemDetail `json:"errors,omitempty" doc:"Each broken rule, for VALIDATION_FAILED."`
}

// ProblemDetail is one broken rule: where (e.g. body.name, query.limit) and
// what.
type ProblemDetail struct {
	Location string `json:"location"`
	Message  string `json:"message"`
}

func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// GetStatus returns the HTTP status (huma.StatusError).
func (p *Problem) GetStatus() int { return p.Status }

// ContentType makes huma send application/problem+json.
func (p *Problem) ContentType(string) string { return "application/problem+json" }

func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusNotAcceptable, http.StatusMethodNotAllowed:
		return CodeInvalidRequest
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusConflict:
		return CodeConflict
	case http.StatusRequestEntityTooLarge:
		return CodePayloadTooLarge
	case http.StatusUnprocessableEntity:
		return CodeValidationFailed
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	}
	return CodeInternal
}

func newProblem(status int, code, detail string, details ...ProblemDetail) *Problem {
	if code == "" {
		code = codeFor(status)
	}
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Code: code, Errors: details}
}

// hookErrors makes huma build *Problem errors. huma only offers package
// variables for this; every keyward server sets the same function, once.
var hookErrors = sync.OnceFunc(func() {
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		var details []ProblemDetail
		for _, e := range errs {
			if e == nil {
				continue
			}
			d := ProblemDetail{Message: e.Error()}
			var ed *huma.ErrorDetail
			if errors.As(e, &ed) {
				// Never echo ed.Value: for a body that is not JSON it is the
				// whole body, which may hold a key.
				d = ProblemDetail{Location: ed.Location, Message: ed.Message}
			}
			details = append(details, d)
		}
		switch status {
		case http.StatusBadRequest:
			msg = "the request body is not valid JSON"
		case http.StatusRequestEntityTooLarge:
			msg = "the request body is larger than 1 MiB"
		case http.StatusUnprocessableEntity:
			msg = "the request breaks the rules listed in errors"
		}
		if status >= 500 {
			details, msg = nil, "internal error" // details go to the log only
		}
		return newProblem(status, "", msg, details...)
	}
	huma.NewErrorWithContext = func(_ huma.Context, status int, msg string, errs ...error) huma.StatusError {
		return huma.NewError(status, msg, errs...)
	}
})

// errorMapper turns Service errors into problems; internal ones are logged
// with their detail and answered generically.
type errorMapper struct{ log *slog.Logger }

// problem maps err. location prefixes validation fields ("body", "query").
func (m errorMapper) problem(err error, location string) *Problem {
	var ve *keyward.ValidationError
	switch {
	case errors.As(err, &ve):
		details := make([]ProblemDetail, 0, len(ve.Problems))
		for _, p := range ve.Problems {
			loc := location
			if p.Field != "" {
				loc += "." + p.Field
			}
			details = append(details, ProblemDetail{Location: loc, Message: p.Message})
		}
		return newProblem(http.StatusUnprocessableEntity, CodeValidationFailed, "the request breaks the rules listed in errors", details...)
	case errors.Is(err, keyward.ErrNotFound):
		return newProblem(http.StatusNotFound, CodeNotFound, "no key with that id")
	case errors.Is(err, keyward.ErrConflict):
		return newProblem(http.StatusConflict, CodeConflict, conflictDetail(err))
	case errors.Is(err, keyward.ErrUnavailable):
		m.log.Error("store unavailable", "err", err)
		return newProblem(http.StatusServiceUnavailable, CodeUnavailable, "the key store is unavailable; try again")
	}
	m.log.Error("internal error", "err", err)
	return newProblem(http.StatusInternalServerError, CodeInternal, "internal error")
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

// writeProblem writes p outside huma (middleware, plain handlers).
func writeProblem(w http.ResponseWriter, p *Problem) {
	b, _ := json.Marshal(p)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if p.Code != "" {
		h.Set("X-Keyward-Code", p.Code)
	}
	w.WriteHeader(p.Status)
	w.Write(b)
}

package extauthz

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

// recorder is the in-memory http.ResponseWriter that package httpauth
// writes a response into; Check turns it into a CheckResponse. Recorders
// are pooled: release returns one, and nothing may keep its header map or
// body after that (the values are copied into the answer, or are strings,
// which are immutable).
type recorder struct {
	h      http.Header
	status int
	body   []byte
}

var recorders = sync.Pool{New: func() any { return &recorder{h: make(http.Header, 8)} }}

func newRecorder() *recorder { return recorders.Get().(*recorder) }

func (r *recorder) release() {
	clear(r.h)
	r.status, r.body = 0, nil
	recorders.Put(r)
}

func (r *recorder) Header() http.Header { return r.h }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, b...)
	return len(b), nil
}

// writeProblem writes a problem+json response as /v1/auth writes its 422.
func writeProblem(w http.ResponseWriter, p *api.Problem) {
	b, _ := json.Marshal(p) // strings and ints always marshal
	h := w.Header()
	h["Content-Type"] = []string{"application/problem+json"}
	h["X-Keyward-Code"] = []string{p.Code}
	w.WriteHeader(p.Status)
	w.Write(b)
}

// denied turns the rejection in rec into a denied CheckResponse.
func denied(rec *recorder) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(grpcCode(rec.status)), Message: rec.h.Get("X-Keyward-Code")},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(rec.status)},
			Headers: headerOptions(rec.h),
			Body:    string(rec.body),
		}},
	}
}

// grpcCode is the gRPC status of a denial with HTTP status s. Envoy denies
// on any status but OK; the code only tells logs and traces what happened.
func grpcCode(s int) codes.Code {
	switch s {
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return codes.InvalidArgument
	}
	return codes.PermissionDenied
}

// allowed is the OK CheckResponse of a key that passed: the X-Keyward-*
// headers for the upstream, overwriting any the client sent, and the
// RateLimit headers httpauth set in rec for the client.
func allowed(rec *recorder, res *keyward.Result) *authv3.CheckResponse {
	k := res.Key
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{
				option("x-keyward-key-id", k.ID, true),
				option("x-keyward-owner", k.Owner, true),
				option("x-keyward-scopes", strings.Join(res.EffectiveScopes(), " "), true),
			},
			ResponseHeadersToAdd: headerOptions(rec.h),
		}},
	}
}

// option is one header to set: it replaces a header of that name
// (overwrite), or is added beside it. An empty value is kept, so that an
// empty X-Keyward-Owner still replaces what a client sent.
func option(name, value string, overwrite bool) *corev3.HeaderValueOption {
	action := corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
	if overwrite {
		action = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	}
	return &corev3.HeaderValueOption{
		Header:         &corev3.HeaderValue{Key: name, Value: value},
		AppendAction:   action,
		KeepEmptyValue: true,
	}
}

// knownHeaders are the header fields httpauth writes, in the order the
// answer lists them, with their lower-case names (Envoy's spelling).
var knownHeaders = [...]struct{ canonical, lower string }{
	{"Content-Type", "content-type"},
	{"Www-Authenticate", "www-authenticate"},
	{"Retry-After", "retry-after"},
	{"Ratelimit-Policy", "ratelimit-policy"},
	{"Ratelimit", "ratelimit"},
	{"X-Keyward-Code", "x-keyward-code"},
}

// headerOptions lists the fields of h, each replacing a field of the same
// name, in a fixed order: the known ones first, then the others by name.
// It returns nil for an empty h.
func headerOptions(h http.Header) []*corev3.HeaderValueOption {
	if len(h) == 0 {
		return nil
	}
	out := make([]*corev3.HeaderValueOption, 0, len(h))
	add := func(name string, values []string) {
		for i, v := range values {
			out = append(out, option(name, v, i == 0))
		}
	}
	seen := 0
	for _, k := range knownHeaders {
		if vs, ok := h[k.canonical]; ok {
			add(k.lower, vs)
			seen++
		}
	}
	if seen < len(h) {
		var rest []string
		for name := range h {
			if !slices.ContainsFunc(knownHeaders[:], func(k struct{ canonical, lower string }) bool { return k.canonical == name }) {
				rest = append(rest, name)
			}
		}
		slices.Sort(rest)
		for _, name := range rest {
			add(strings.ToLower(name), h[name])
		}
	}
	return out
}

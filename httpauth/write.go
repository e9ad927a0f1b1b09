package httpauth

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// CodeUnavailable is the code (X-Keyward-Code and the problem's "code"
// member) of the 503 answered when a key cannot be checked. The other codes
// are the keyward.Outcome strings.
const CodeUnavailable = "UNAVAILABLE"

// CodeInvalidRequest is the code of the 400 answered to a request that
// presents more than one key ([WriteSeveralKeys]).
const CodeInvalidRequest = "INVALID_REQUEST"

// Canonical response header names, for direct map assignment.
const (
	hdrContentType     = "Content-Type"
	hdrCode            = "X-Keyward-Code"
	hdrWWWAuthenticate = "Www-Authenticate"
	hdrRetryAfter      = "Retry-After"
	hdrRateLimitPolicy = "Ratelimit-Policy"
	hdrRateLimit       = "Ratelimit"
)

// problem is the pre-built response of one rejection. Its slices are shared
// by every response and never modified; each has len == cap, so that a
// Header.Add after ours copies instead of writing into them.
type problem struct {
	status int
	code   []string
	auth   []string // WWW-Authenticate, or nil
	body   []byte
}

// problemDoc is an RFC 9457 problem detail with keyward's code member, in
// the contract's member order.
type problemDoc struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

const realm = `Bearer realm="keyward"`

// Pre-built, immutable response parts.
var (
	problemJSON  = []string{"application/problem+json"}
	invalidToken = []string{realm + `, error="invalid_token"`}
	// problems holds the rejection of every outcome but VALID, indexed by
	// outcome.
	problems    = buildProblems()
	unavailable = newProblem(http.StatusServiceUnavailable, CodeUnavailable,
		"the key cannot be checked right now; try again later", nil)
	severalKeys = newProblem(http.StatusBadRequest, CodeInvalidRequest,
		"the request presents more than one key: send one, in Authorization: Bearer or in X-API-Key",
		[]string{realm + `, error="invalid_request"`})
)

func newProblem(status int, code, detail string, auth []string) problem {
	body, err := json.Marshal(problemDoc{
		Type: "about:blank", Title: http.StatusText(status), Status: status,
		Detail: detail, Code: code,
	})
	if err != nil {
		panic(err) // strings and an int always marshal
	}
	return problem{status: status, code: []string{code}, auth: auth, body: body}
}

func buildProblems() []problem {
	ps := make([]problem, keyward.OutcomeValid)
	for _, o := range keyward.Outcomes() {
		var (
			status = http.StatusUnauthorized
			auth   = invalidToken
			detail string
		)
		switch o {
		case keyward.OutcomeValid:
			continue
		case keyward.OutcomeMissing:
			auth, detail = []string{realm}, "the request carries no API key"
		case keyward.OutcomeMalformed:
			detail = "the key is malformed"
		case keyward.OutcomeNotFound:
			detail = "the key is not valid"
		case keyward.OutcomeRevoked:
			detail = "the key has been revoked"
		case keyward.OutcomeExpired:
			detail = "the key has expired"
		case keyward.OutcomeDisabled:
			detail = "the key is disabled"
		case keyward.OutcomeForbiddenAddress:
			status, auth, detail = http.StatusForbidden, nil, "the key may not be used from this address"
		case keyward.OutcomeInsufficientScope:
			// WWW-Authenticate names the scope: built per response.
			status, auth, detail = http.StatusForbidden, nil, "the key does not grant a scope this request requires"
		case keyward.OutcomeRateLimited:
			status, auth, detail = http.StatusTooManyRequests, nil, "the key's rate limit is spent for now"
		case keyward.OutcomeUsageExceeded:
			status, auth, detail = http.StatusTooManyRequests, nil, "the key has no credits left"
		default:
			panic("httpauth: no response for outcome " + o.String())
		}
		ps[o] = newProblem(status, o.String(), detail, auth)
	}
	return ps
}

// WriteResult writes the response of a verification. For a result that did
// not pass it writes the whole rejection (status, headers and problem body,
// per the package documentation) and returns false; the caller must not
// write anything more. For a VALID result it sets the RateLimit-Policy and
// RateLimit headers if the key has a rate limit, writes nothing else and
// returns true: the caller writes the response.
//
// The Retry-After of RATE_LIMITED is at least 1 second, so that clients do
// not retry at once. The problem body names the outcome but never the key,
// its id or its secret. An outcome WriteResult does not know is answered like
// [WriteUnavailable]. It is safe to call from any number of goroutines with
// different writers.
func WriteResult(w http.ResponseWriter, res keyward.Result) (passed bool) {
	switch o := res.Outcome; o {
	case keyward.OutcomeValid:
		// w.Header() only when there is a header to set: net/http copies
		// the header map of every response whose handler asked for it.
		if res.NumRateLimits() > 0 || res.RateLimit.Limit > 0 {
			setResultHeaders(w.Header(), &res)
		}
		return true
	case keyward.OutcomeInsufficientScope:
		writeInsufficientScope(w, res.MissingScope)
	case keyward.OutcomeRateLimited:
		reject(w, &problems[o], nil, max(seconds(res.RetryAfter), 1), &res)
	case keyward.OutcomeUsageExceeded:
		reject(w, &problems[o], nil, seconds(res.RetryAfter), &res)
	default:
		if int(o) < len(problems) {
			p := &problems[o]
			reject(w, p, p.auth, 0, nil)
		} else {
			WriteUnavailable(w)
		}
	}
	return false
}

// StatusOf returns the HTTP status [WriteResult] answers outcome o with:
// 200 for VALID, 401, 403 or 429 for the rejections, 503 for an outcome it
// does not know.
func StatusOf(o keyward.Outcome) int {
	switch {
	case o == keyward.OutcomeValid:
		return http.StatusOK
	case int(o) < len(problems) && problems[o].status != 0:
		return problems[o].status
	}
	return unavailable.status
}

// WriteMissing writes the 401 response for a request that presents no key:
// code MISSING, with WWW-Authenticate: Bearer realm="keyward".
func WriteMissing(w http.ResponseWriter) {
	p := &problems[keyward.OutcomeMissing]
	reject(w, p, p.auth, 0, nil)
}

// WriteUnavailable writes the 503 response for a key that cannot be checked
// (the Verifier returned an error): code UNAVAILABLE. Never answer such a
// request with a success.
func WriteUnavailable(w http.ResponseWriter) {
	reject(w, &unavailable, nil, 0, nil)
}

// WriteSeveralKeys writes the 400 response for a request that presents more
// than one key ([ErrSeveralKeys]): code INVALID_REQUEST, with
// WWW-Authenticate: Bearer realm="keyward", error="invalid_request" (RFC
// 6750, section 3.1).
func WriteSeveralKeys(w http.ResponseWriter) {
	reject(w, &severalKeys, severalKeys.auth, 0, nil)
}

// writeInsufficientScope writes the 403 for a key that lacks scope.
func writeInsufficientScope(w http.ResponseWriter, scope string) {
	auth := realm + `, error="insufficient_scope"`
	if scope != "" {
		auth += `, scope="` + quoteScope(scope) + `"`
	}
	reject(w, &problems[keyward.OutcomeInsufficientScope], []string{auth}, 0, nil)
}

// reject writes a rejection: p with the WWW-Authenticate value auth (nil for
// none), a Retry-After of retry seconds when retry > 0 and the rate-limit
// headers of res when it has limits. Rate-limit and Retry-After headers set
// earlier (by New, before RequireScopes rejects) are removed otherwise: they
// belong on 2xx and 429 responses only.
func reject(w http.ResponseWriter, p *problem, auth []string, retry int64, res *keyward.Result) {
	h := w.Header()
	h[hdrContentType] = problemJSON
	h[hdrCode] = p.code
	if auth != nil {
		h[hdrWWWAuthenticate] = auth
	}
	if retry > 0 {
		h[hdrRetryAfter] = []string{strconv.FormatInt(retry, 10)}
	} else {
		delete(h, hdrRetryAfter)
	}
	if res == nil || !setResultHeaders(h, res) {
		delete(h, hdrRateLimitPolicy)
		delete(h, hdrRateLimit)
	}
	w.WriteHeader(p.status)
	w.Write(p.body) // an error means the client is gone: nothing to do
}

// SetRateLimitHeaders sets the RateLimit-Policy and RateLimit fields of the
// IETF httpapi rate-limit headers draft for the decision d, replacing any
// earlier values:
//
//	RateLimit-Policy: "key";q=<limit>;w=<period in seconds>
//	RateLimit: "key";r=<remaining>;t=<seconds until a unit returns>
//
// Seconds are rounded up. The zero RateDecision (a key without a rate limit)
// sets nothing. Send these headers only on 2xx and 429 responses.
func SetRateLimitHeaders(h http.Header, d keyward.RateDecision) {
	if d.Limit <= 0 {
		return
	}
	var buf [128]byte
	b := append(buf[:0], `"key";q=`...)
	b = strconv.AppendInt(b, d.Limit, 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, seconds(d.Period), 10)
	n := len(b)
	b = append(b, `"key";r=`...)
	b = strconv.AppendInt(b, max(d.Remaining, 0), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, seconds(d.Reset), 10)
	s := string(b)      // one allocation for both values
	v := new([2]string) // and one for both slices
	v[0], v[1] = s[:n], s[n:]
	h[hdrRateLimitPolicy] = v[0:1:1]
	h[hdrRateLimit] = v[1:2:2]
}

// setResultHeaders sets the rate-limit headers of a verification and reports
// whether it had limits. RateLimit-Policy lists every limit checked: the
// key's "default" limit as "key" (as for a single limit), the key's other
// limits by name, the owner's as "owner.<name>"; RateLimit gives the one
// with the fewest units left.
//
//	RateLimit-Policy: "key";q=100;w=60, "burst";q=10;w=1, "owner.daily";q=10000;w=86400
//	RateLimit: "burst";r=2;t=1
func setResultHeaders(h http.Header, res *keyward.Result) bool {
	n := res.NumRateLimits()
	switch {
	case n == 0:
		if res.RateLimit.Limit > 0 { // a Verifier that reports only the summary
			SetRateLimitHeaders(h, res.RateLimit)
			return true
		}
		return false
	case n == 1:
		if l := res.RateLimitAt(0); !l.Owner && l.Name == keyward.DefaultLimitName {
			SetRateLimitHeaders(h, l.RateDecision)
			return true
		}
	}
	policy := res.RateLimitPolicy() // built once per cached key and owner record
	fewest := res.RateLimitAt(0)
	for i := 1; i < n; i++ {
		if l := res.RateLimitAt(i); l.Remaining < fewest.Remaining {
			fewest = l
		}
	}
	var buf [128]byte
	b := keyward.AppendRateLimitName(buf[:0], fewest)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, max(fewest.Remaining, 0), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, seconds(fewest.Reset), 10)
	v := new([2]string)
	v[0], v[1] = policy, string(b)
	h[hdrRateLimitPolicy] = v[0:1:1]
	h[hdrRateLimit] = v[1:2:2]
	return true
}

// seconds returns d in whole seconds, rounded up; 0 for d <= 0.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// quoteScope escapes a scope for a quoted-string: keyward scopes hold no
// quote, backslash or control character, but a required scope comes from
// code and is not validated.
func quoteScope(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r == '"' || r == '\\' || r < 0x20 || r == 0x7f }) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			// not allowed in a header field: dropped
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

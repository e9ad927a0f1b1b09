package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpauth"
)

// AccessLog chooses which requests get an access-log line. Lines never hold
// a query string (it may hold a key) nor a header value; a path is logged
// with any key in it redacted.
type AccessLog string

const (
	// AccessLogDefault (also the zero value "") logs every admin request
	// and every rejection (a 4xx or 5xx answer; a verification whose
	// outcome is not VALID), rejections bounded per code (10 lines per
	// code per 10 s, then one summary line). It does not log successful
	// verifications (/v1/auth 2xx, POST /v1/keys/verify VALID), health,
	// readiness, metrics, the API docs or the web page's files: the
	// metrics count those.
	AccessLogDefault AccessLog = "default"
	// AccessLogAll logs every request, rejections unbounded.
	AccessLogAll AccessLog = "all"
	// AccessLogOff logs no request. Errors are still logged.
	AccessLogOff AccessLog = "off"
)

// ParseAccessLog returns the AccessLog named s: "all", "default" or "off".
func ParseAccessLog(s string) (AccessLog, error) {
	switch a := AccessLog(s); a {
	case AccessLogAll, AccessLogDefault, AccessLogOff:
		return a, nil
	}
	return "", fmt.Errorf("server: access log %q: want all, default or off", s)
}

// The hot routes are served before the mux and without a response-writer
// wrapper: /v1/auth logs its own outcome, /healthz is static. Every other
// request goes through the mux, wrapped by a logRecord when lines may be
// written.

var (
	jsonType   = []string{"application/json"}
	healthBody = []byte(`{"status":"ok"}` + "\n")
)

// route is the server's handler; a panic below it gets a 500 answer and
// one log line (recoverPanic).
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	defer s.recoverPanic(w, r)
	switch r.URL.Path {
	case "/v1/auth":
		s.handleAuth(w, r)
		return
	case "/healthz":
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			s.serveHealth(w, r)
			return
		}
	}
	if s.accessLog == AccessLogOff {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.serveLogged(w, r)
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	var start time.Time
	if s.accessLog == AccessLogAll {
		start = time.Now()
	}
	w.Header()["Content-Type"] = jsonType[:1:1]
	w.Write(healthBody)
	if s.accessLog == AccessLogAll {
		s.logRequest(r, start, s.clientIP(r), lineOf{status: http.StatusOK, bytes: int64(len(healthBody))})
	}
}

// lineOf is what an access line says of a request beyond its method, path
// and client.
type lineOf struct {
	status int
	bytes  int64 // -1: not counted
	code   string
	keyID  string
	actor  string // who made an admin request: an admin key's id, or admin-token
}

// logAuth logs a request to /v1/auth: a rejection (status >= 400), bounded
// unless every request is logged; a success only when every request is.
func (s *Server) logAuth(r *http.Request, start time.Time, ip netip.Addr, l lineOf) {
	switch {
	case s.accessLog == AccessLogOff:
		return
	case l.status >= 400:
		if s.accessLog != AccessLogAll && !s.rejects.allow(l.code) {
			return
		}
	case s.accessLog != AccessLogAll:
		return
	}
	l.bytes = -1
	s.logRequest(r, start, ip, l)
}

// logRequest writes an access line.
func (s *Server) logRequest(r *http.Request, start time.Time, ip netip.Addr, l lineOf) {
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("path", httpauth.RedactKeys(r.URL.Path)),
		slog.Int("status", l.status))
	if l.bytes >= 0 {
		attrs = append(attrs, slog.Int64("bytes", l.bytes))
	}
	if !start.IsZero() {
		attrs = append(attrs, slog.Float64("ms", float64(time.Since(start).Microseconds())/1000))
	}
	if ip.IsValid() {
		attrs = append(attrs, slog.String("client_ip", ip.String()))
	}
	for _, a := range [][2]string{{"actor", l.actor}, {"key_id", l.keyID}, {"code", l.code}} {
		if a[1] != "" {
			attrs = append(attrs, slog.String(a[0], a[1]))
		}
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// serveLogged serves r through the mux and logs it as the access log mode
// says.
func (s *Server) serveLogged(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &logRecord{ResponseWriter: w, status: http.StatusOK}
	r = r.WithContext(context.WithValue(r.Context(), logRecordKey{}, rec))
	s.mux.ServeHTTP(rec, r) // sets r.Pattern
	l := lineOf{status: rec.status, bytes: rec.bytes, code: rec.code, keyID: rec.keyID, actor: rec.actor}
	if l.code == "" {
		l.code = rec.Header().Get("X-Keyward-Code")
	}
	switch {
	case l.status >= 400 || l.code != "" && l.code != keyward.OutcomeValid.String():
		if l.code == "" {
			l.code = strconv.Itoa(l.status)
		}
		if s.accessLog != AccessLogAll && !s.rejects.allow(l.code) {
			return
		}
	case s.accessLog == AccessLogAll, s.adminPatterns[r.Pattern]:
	default:
		return // a success of a public route, or a verification
	}
	s.logRequest(r, start, s.clientIP(r), l)
}

// logRecord records, for the access line, the status and size of an answer,
// and what the handlers note with noteOutcome and noteActor.
type logRecord struct {
	http.ResponseWriter
	status             int
	bytes              int64
	wrote              bool
	code, keyID, actor string
}

// logRecordKey is the context key of a request's logRecord.
type logRecordKey struct{}

func recordOf(ctx context.Context) *logRecord {
	rec, _ := ctx.Value(logRecordKey{}).(*logRecord)
	return rec
}

// noteOutcome tells the access log the outcome of a verification answered
// with 200 (POST /v1/keys/verify), so that it logs one that did not pass.
func noteOutcome(ctx context.Context, res keyward.Result) {
	if rec := recordOf(ctx); rec != nil {
		rec.code = res.Outcome.String()
		if res.Key != nil {
			rec.keyID = res.Key.ID
		}
	}
}

// noteActor tells the access log who made an admin request.
func noteActor(ctx context.Context, actor string) {
	if rec := recordOf(ctx); rec != nil {
		rec.actor = actor
	}
}

func (r *logRecord) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *logRecord) Write(b []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *logRecord) Unwrap() http.ResponseWriter { return r.ResponseWriter }

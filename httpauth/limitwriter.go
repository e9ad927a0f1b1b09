package httpauth

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
)

// limitWriter is the ResponseWriter the next handler gets when the
// middleware set the RateLimit headers of a VALID key: if the handler then
// answers with a status other than 2xx and 429 (a 404, a 500 of its own),
// the headers are dropped before it goes out, for they go only on 2xx and
// 429 responses. It passes Flush, Hijack and ReadFrom through, and unwraps
// for http.ResponseController.
type limitWriter struct {
	http.ResponseWriter
	decided bool // the final status is written
}

var limitWriters = sync.Pool{New: func() any { return new(limitWriter) }}

func (w *limitWriter) WriteHeader(code int) {
	if !w.decided && code >= 200 {
		w.decided = true
		if code >= 300 && code != http.StatusTooManyRequests {
			h := w.ResponseWriter.Header()
			delete(h, hdrRateLimitPolicy)
			delete(h, hdrRateLimit)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *limitWriter) Write(b []byte) (int, error) {
	w.decided = true // a 200 unless a status was written
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps net/http's sendfile path for io.Copy into the response
// (http.ServeContent, http.FileServer).
func (w *limitWriter) ReadFrom(r io.Reader) (int64, error) {
	w.decided = true
	return io.Copy(w.ResponseWriter, r)
}

func (w *limitWriter) Flush() {
	w.decided = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *limitWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("httpauth: the ResponseWriter does not support Hijack")
}

func (w *limitWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveLimited calls next with w wrapped in a limitWriter.
func serveLimited(next http.Handler, w http.ResponseWriter, r *http.Request) {
	lw := limitWriters.Get().(*limitWriter)
	lw.ResponseWriter, lw.decided = w, false
	next.ServeHTTP(lw, r)
	lw.ResponseWriter = nil
	limitWriters.Put(lw)
}

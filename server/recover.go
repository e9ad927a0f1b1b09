package server

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/httpauth"
)

// recoverPanic, deferred by route, turns a handler's panic into a 500
// INTERNAL answer and one log line at error level that names the panic and
// the function and line where it happened. net/http would otherwise log the
// whole stack and close the connection without an answer; the contract keeps
// stack traces out of every log line. http.ErrAbortHandler goes on up, as
// net/http means it to.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	s.log.Error("panic serving a request", "method", r.Method, "path", r.URL.Path,
		"panic", httpauth.RedactKeys(fmt.Sprint(v)), "at", panicSite())
	writeProblem(w, newProblem(http.StatusInternalServerError, api.CodeInternal, "internal error"))
}

// panicSite returns the function and line that panicked: the first frame of
// the panicking goroutine outside package runtime, below recoverPanic.
func panicSite() string {
	var pcs [32]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs[:])])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			return fmt.Sprintf("%s (%s:%d)", f.Function, shortFile(f.File), f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

// shortFile keeps the last two elements of a source path: its package's
// directory and the file.
func shortFile(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		if j := strings.LastIndexByte(path[:i], '/'); j >= 0 {
			return path[j+1:]
		}
	}
	return path
}

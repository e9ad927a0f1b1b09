package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/keyward/keyward/api"
)

// Answers keyward does not write itself, made problem+json: the mux's 404
// and 405, a wrapped handler's own errors (http.Error in http.FileServer),
// and the answers net/http writes on the connection before any handler
// runs.

// methods are the methods a route may take, in the order Allow lists them.
var methods = []string{http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodPatch, http.MethodPost, http.MethodPut}

// unrouted is the handler of "/": every request no route takes. It answers
// 405 with Allow if the path has routes for other methods, else 404.
func unrouted(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		probe := *r
		for _, m := range methods {
			probe.Method = m
			if _, pattern := mux.Handler(&probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			writeProblem(w, newProblem(http.StatusNotFound, api.CodeNotFound, "no route has this path"))
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeProblem(w, newProblem(http.StatusMethodNotAllowed, "", "this path does not take this method; Allow lists those it takes"))
	}
}

// shapeErrors answers the errors next writes itself (with http.Error, as
// http.FileServer does) in problem+json. Its answers that are already
// problems pass unchanged.
func shapeErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&shapeWriter{ResponseWriter: w}, r)
	})
}

type shapeWriter struct {
	http.ResponseWriter
	shaped bool // a problem replaced the handler's answer: drop its body
}

func (w *shapeWriter) WriteHeader(code int) {
	if code < 400 || w.Header().Get("Content-Type") == "application/problem+json" {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.shaped = true
	w.Header().Del("Content-Length")
	detail := "the request failed"
	if code == http.StatusNotFound {
		detail = "no such file"
	}
	writeProblem(w.ResponseWriter, newProblem(code, "", detail))
}

func (w *shapeWriter) Write(b []byte) (int, error) {
	if w.shaped {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *shapeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ProblemListener returns ln with its connections changed so that the
// answers net/http's server writes itself, on the connection, before any
// handler runs, are problem+json like every other error of keyward: 400 for
// a request that is not valid HTTP, 431 for headers over
// http.Server.MaxHeaderBytes, 501 for a transfer encoding it does not know,
// 505 for an HTTP version it does not speak. Each has code INVALID_REQUEST
// (in the body and in X-Keyward-Code) and closes the connection, as before.
//
// http.Server has no hook for these answers, so the connections recognize
// them by their exact form: one write of a status line, then
// "Content-Type: text/plain; charset=utf-8" and "Connection: close" in that
// order, which a handler's answer never has (net/http writes a handler's
// headers sorted, Connection before Content-Type, and with a Date). Use it
// for plain HTTP only: under TLS the connection carries encrypted records,
// and wrapping the TLS connection instead would hide it from http.Server.
func ProblemListener(ln net.Listener) net.Listener { return problemListener{ln} }

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c}, nil
}

type problemConn struct{ net.Conn }

// goErrorHeaders follows the status line of every answer net/http writes
// itself (server.go, conn.serve).
const goErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *problemConn) Write(b []byte) (int, error) {
	if len(b) < 12 || b[9] < '4' || b[9] > '5' || string(b[:9]) != "HTTP/1.1 " {
		return c.Conn.Write(b)
	}
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 || !bytes.HasPrefix(b[end:], []byte(goErrorHeaders)) {
		return c.Conn.Write(b)
	}
	status, err := strconv.Atoi(string(b[9:12]))
	if err != nil {
		return c.Conn.Write(b)
	}
	if _, err := c.Conn.Write(goErrorAnswer(status, string(b[12:end]))); err != nil {
		return 0, err
	}
	return len(b), nil
}

// goErrorAnswer is the problem+json answer that replaces net/http's answer
// of status; line is the rest of its status line (" Bad Request: missing
// required Host header").
func goErrorAnswer(status int, line string) []byte {
	var detail string
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		detail = "the request's headers are larger than the server accepts"
	case http.StatusNotImplemented:
		detail = "the request's transfer encoding is not supported"
	case http.StatusHTTPVersionNotSupported:
		detail = "the request's HTTP version is not supported"
	default:
		detail = "the request is not valid HTTP"
		// net/http's reasons are its own words ("missing required Host
		// header"), never the request's.
		if _, reason, ok := strings.Cut(line, ": "); ok && isPlainText(reason) {
			detail += ": " + reason
		}
	}
	p := newProblem(status, api.CodeInvalidRequest, detail)
	body, _ := json.Marshal(p)
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	b.WriteString("Content-Type: application/problem+json\r\nX-Keyward-Code: " + api.CodeInvalidRequest + "\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}

// isPlainText reports whether s is short lower-case prose.
func isPlainText(s string) bool {
	return len(s) < 80 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r == ' ' || r == '-')
	})
}

// CloseWrite half-closes the connection, as net/http does after a 431.
func (c *problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom keeps sendfile for files served from disk.
func (c *problemConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

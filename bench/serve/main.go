// Command serve is the reference of bench/serve/wrk.sh: a bare Go net/http
// server (no mux, no middleware) whose one handler writes "ok", the fastest
// a Go HTTP server answers on this machine. wrk.sh loads it and keyward
// serve's /healthz and /v1/auth in the same run and prints their ratios to
// it.
//
//	go -C bench run ./serve -addr 127.0.0.1:18095
//
// -timeouts gives it the timeouts of keyward serve's http.Server,
// -problem-listener wraps its listener in server.ProblemListener, as
// keyward serve does on plain HTTP, and -content-type sets that header on
// every answer, as /healthz sets application/json: each alone measures what
// it costs a request.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/keyward/keyward/server"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18095", "loopback address to listen on")
	timeouts := flag.Bool("timeouts", false, "set keyward serve's timeouts (read header 5s, read and write 30s, idle 2m)")
	wrapped := flag.Bool("problem-listener", false, "wrap the listener in server.ProblemListener")
	contentType := flag.String("content-type", "", "set this Content-Type on every answer (net/http sniffs text/plain without it)")
	flag.Parse()
	ok := []byte("ok\n")
	handler := func(w http.ResponseWriter, _ *http.Request) { w.Write(ok) }
	if *contentType != "" {
		ct := []string{*contentType}
		handler = func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Content-Type"] = ct
			w.Write(ok)
		}
	}
	hs := &http.Server{Handler: http.HandlerFunc(handler)}
	if *timeouts {
		hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout = 5*time.Second, 30*time.Second, 30*time.Second, 2*time.Minute
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *wrapped {
		ln = server.ProblemListener(ln)
	}
	log.Fatal(hs.Serve(ln))
}

// Command serve is the reference of bench/serve/wrk.sh: a bare Go net/http
// server (no mux, no middleware) whose one handler writes "ok", the fastest
// a Go HTTP server answers on this machine. wrk.sh loads it and keyward
// serve's /healthz and /v1/auth in the same run and prints their ratios to
// it.
//
//	go -C bench run ./serve -addr 127.0.0.1:18095
//
// -timeouts gives it the timeouts of keyward serve's http.Server, and
// -problem-listener wraps its listener in server.ProblemListener, as
// keyward serve does on plain HTTP: each alone measures what it costs a
// request.
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
	flag.Parse()
	ok := []byte("ok\n")
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(ok) })}
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

package main

import (
	"net"
	"testing"
	"time"
)

// BenchmarkDeadlines measures what http.Server's timeouts cost a request:
// the deadline calls net/http (Go 1.26, server.go) makes on the connection
// for each request on a kept-alive connection, with keyward serve's
// timeouts and with none (where every deadline is zero, which arms no
// timer).
//
//	go -C bench test -run '^$' -bench Deadlines -count 5 ./serve
func BenchmarkDeadlines(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(time.Hour)
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	aLongTimeAgo := time.Unix(1, 0)
	b.Run("none", func(b *testing.B) {
		var zero time.Time
		for b.Loop() {
			conn.SetReadDeadline(zero)         // header deadline
			conn.SetReadDeadline(zero)         // whole-request deadline
			conn.SetReadDeadline(aLongTimeAgo) // abortPendingRead
			conn.SetReadDeadline(zero)         //
			conn.SetWriteDeadline(zero)        // after the response
			conn.SetReadDeadline(zero)         // idle
		}
	})
	b.Run("keyward", func(b *testing.B) {
		var zero time.Time
		for b.Loop() {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second)) // ReadHeaderTimeout
			t0 := time.Now()
			conn.SetWriteDeadline(time.Now().Add(30 * time.Second)) // WriteTimeout
			conn.SetReadDeadline(t0.Add(30 * time.Second))          // ReadTimeout
			conn.SetReadDeadline(aLongTimeAgo)
			conn.SetReadDeadline(zero)
			conn.SetWriteDeadline(zero)
			conn.SetReadDeadline(time.Now().Add(2 * time.Minute)) // IdleTimeout
		}
	})
	b.Run("keyward-no-write-timeout", func(b *testing.B) {
		var zero time.Time
		for b.Loop() {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			t0 := time.Now()
			conn.SetReadDeadline(t0.Add(30 * time.Second))
			conn.SetReadDeadline(aLongTimeAgo)
			conn.SetReadDeadline(zero)
			conn.SetWriteDeadline(zero)
			conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
		}
	})
}

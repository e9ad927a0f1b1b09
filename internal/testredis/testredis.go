// Package testredis gives tests a Redis to use: the one named by
// KEYWARD_TEST_REDIS_URL, or a private redis-server the test can stop and
// start again (for outage tests).
package testredis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// URL returns KEYWARD_TEST_REDIS_URL or skips the test, saying why.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("KEYWARD_TEST_REDIS_URL")
	if u == "" {
		tb.Skip("KEYWARD_TEST_REDIS_URL is not set: skipping the Redis suite (make test starts a throwaway redis-server when one is installed)")
	}
	return u
}

// Client returns a client for KEYWARD_TEST_REDIS_URL on a database of its
// own (flushed), or skips the test.
func Client(tb testing.TB) *goredis.Client {
	tb.Helper()
	opts, err := goredis.ParseURL(URL(tb))
	if err != nil {
		tb.Fatalf("KEYWARD_TEST_REDIS_URL: %v", err)
	}
	opts.Protocol = 2 // see package cache/redis
	c := goredis.NewClient(opts)
	tb.Cleanup(func() { c.Close() })
	if err := c.Ping(context.Background()).Err(); err != nil {
		tb.Fatalf("Redis at KEYWARD_TEST_REDIS_URL: %v", err)
	}
	return c
}

// Server is a private redis-server on 127.0.0.1.
type Server struct {
	tb   testing.TB
	dir  string
	Port int
	cmd  *exec.Cmd
}

// Start starts a private redis-server, or skips the test when none is
// installed. It is stopped when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		tb.Skip("redis-server is not installed: skipping the Redis outage test (apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{tb: tb, dir: tb.TempDir(), Port: port}
	s.Restart()
	tb.Cleanup(s.Stop)
	return s
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(s.Port) + "/0" }

// Restart starts the server (again) on the same port and waits until it
// answers.
func (s *Server) Restart() {
	s.tb.Helper()
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(s.Port),
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.Port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			s.tb.Fatal("redis-server did not start within 10s")
		}
		time.Sleep(10 * time.Millisecond) // waiting for a process to come up, not for a race
	}
}

// Stop kills the server (SIGKILL: an outage, not a shutdown).
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

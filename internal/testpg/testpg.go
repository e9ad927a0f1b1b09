// Package testpg gives tests PostgreSQL databases: a fresh database on the
// server named by KEYWARD_TEST_POSTGRES_URL, or a private server in a temp
// dir that the test can stop and start (for outage tests).
package testpg

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// URL returns KEYWARD_TEST_POSTGRES_URL or skips the test, saying why.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("KEYWARD_TEST_POSTGRES_URL")
	if u == "" {
		tb.Skip("KEYWARD_TEST_POSTGRES_URL is not set: skipping a PostgreSQL test (make test starts a throwaway server when PostgreSQL is installed)")
	}
	return u
}

// FreshDatabase creates a new database on the server at admin and returns
// its URL; it is dropped when the test ends.
func FreshDatabase(tb testing.TB, admin string) string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("PostgreSQL at %s: %v", redact(admin), err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("kwtest_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "?"
	}
	return u.Redacted()
}

// Server is a private PostgreSQL cluster on 127.0.0.1.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	Port int
}

func binDir() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(real), "initdb")); err == nil {
				return filepath.Dir(real)
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	if len(dirs) > 0 {
		return dirs[len(dirs)-1]
	}
	return ""
}

// asPostgres runs a server command; initdb and postgres refuse to run as root.
func asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() != 0 {
		return exec.Command(name, args...)
	}
	q := make([]string, 0, len(args)+1)
	for _, a := range append([]string{name}, args...) {
		q = append(q, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return exec.Command("su", "postgres", "-s", "/bin/sh", "-c", strings.Join(q, " "))
}

// Start creates and starts a private cluster, or skips the test when
// PostgreSQL is not installed. It is stopped when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := binDir()
	if bin == "" {
		tb.Skip("PostgreSQL (initdb, pg_ctl) is not installed: skipping a PostgreSQL outage test (apt-get install postgresql)")
	}
	dir, err := os.MkdirTemp("", "keyward-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o700)
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "-R", "postgres", dir).CombinedOutput(); err != nil {
			tb.Fatalf("chown: %v %s", err, out)
		}
	}
	if out, err := asPostgres(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres").CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{tb: tb, bin: bin, dir: dir, Port: port}
	s.Restart()
	tb.Cleanup(func() {
		s.Stop()
		os.RemoveAll(dir)
	})
	return s
}

// URL is the URL of the cluster's postgres database.
func (s *Server) URL() string {
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(s.Port) + "/postgres?sslmode=disable"
}

// Restart starts the cluster (again) on the same port and data.
func (s *Server) Restart() {
	s.tb.Helper()
	data := filepath.Join(s.dir, "data")
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off", s.Port, data)
	cmd := asPostgres(filepath.Join(s.bin, "pg_ctl"), "-D", data, "-w", "-l", filepath.Join(data, "server.log"), "-o", opts, "start")
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(data, "server.log"))
		s.tb.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the cluster at once (immediate mode: like a crash, no
// waiting for clients).
func (s *Server) Stop() {
	asPostgres(filepath.Join(s.bin, "pg_ctl"), "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop").Run()
}

// Package testserver builds the keyward binary once per test process and
// runs it as a child process on a free loopback port, for end-to-end tests.
package testserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/keyward (once per test process) and returns its path.
func Binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		removeStaleBinaries()
		dir, err := os.MkdirTemp("", fmt.Sprintf("keyward-bin-%d-", os.Getpid()))
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "keyward")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "./cmd/keyward")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// removeStaleBinaries removes the binaries that test processes no longer
// running built (each is about 80 MB, and a test process cannot remove its
// own: nothing runs after its last test). Their directories are named
// after the process that made them; one whose process is gone goes.
func removeStaleBinaries() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "keyward-bin-*"))
	for _, dir := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(dir), "keyward-bin-%d-", &pid); err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(dir)
		}
	}
}

// Server is a running `keyward serve`.
type Server struct {
	tb       testing.TB
	cmd      *exec.Cmd
	URL      string
	AdminKey string // printed on first start, if any
	logMu    sync.Mutex
	log      bytes.Buffer // everything the process wrote to stderr and stdout
	done     chan struct{}
}

var adminKeyLine = regexp.MustCompile(`^\s+([a-z][a-z0-9_]*_[0-9A-Za-z]{16}_[0-9A-Za-z]{46})\s*$`)

// Start runs `keyward serve --addr 127.0.0.1:0 --log-format json` plus args,
// with env added to the environment, and waits until it listens.
func Start(tb testing.TB, env []string, args ...string) *Server {
	tb.Helper()
	s := &Server{tb: tb, done: make(chan struct{})}
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--usage-flush", "200ms"}, args...)
	s.cmd = exec.Command(Binary(tb), all...)
	s.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	s.cmd.Stdout, s.cmd.Stderr = pw, pw
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			s.log.WriteString(line + "\n")
			s.logMu.Unlock()
			if m := adminKeyLine.FindStringSubmatch(line); m != nil {
				s.AdminKey = m[1]
			}
			var entry struct {
				Msg string `json:"msg"`
				URL string `json:"url"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "keyward listening" {
				select {
				case ready <- entry.URL:
				default:
				}
			}
		}
	}()
	go func() {
		s.cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	select {
	case s.URL = <-ready:
	case <-s.done:
		tb.Fatalf("keyward serve exited before listening:\n%s", s.Log())
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		tb.Fatalf("keyward serve did not listen within 60s:\n%s", s.Log())
	}
	tb.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// Log returns everything the process printed so far.
func (s *Server) Log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// Stop sends SIGTERM and waits for a clean exit.
func (s *Server) Stop() {
	s.tb.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		s.tb.Fatal("keyward serve did not stop within 30s of SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.tb.Fatalf("keyward serve exited with %d after SIGTERM:\n%s", code, s.Log())
	}
}

// Kill stops the process with SIGKILL.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// Response is an HTTP answer with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r Response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// Do sends a request with an optional bearer token and JSON body (a string
// is sent as is, anything else is marshaled), failing the test if the
// request cannot be sent.
func (s *Server) Do(tb testing.TB, method, path, token string, body any, header ...string) Response {
	tb.Helper()
	r, err := s.TryDo(method, path, token, body, header...)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// TryDo is Do returning the error (for tests that kill the server).
func (s *Server) TryDo(method, path, token string, body any, header ...string) (Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return Response{}, err
		}
		rd = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return Response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(req, header)
}

// Send sends a request to url (a proxy in front of a server, say) with the
// body and the header name, value pairs, failing the test if the request
// cannot be sent.
func Send(tb testing.TB, method, url, body string, header ...string) Response {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	r, err := send(req, header)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// send sets the header name, value pairs on req, sends it and reads the
// answer.
func send(req *http.Request, header []string) (Response, error) {
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

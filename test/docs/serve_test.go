package docs

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/testserver"
)

// server is a keyward serve started in a working directory, as a reader
// starts it there.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	URL  string // http://127.0.0.1:<port>
	mu   sync.Mutex
	log  bytes.Buffer
	done chan struct{}
}

var listening = regexp.MustCompile(`msg="keyward listening" url=(\S+)`)

// startServe runs keyward serve with args in sh's directory and
// environment (plus env), on a free loopback port, and waits until it
// listens.
func startServe(t *testing.T, sh *shell, env []string, args ...string) *server {
	t.Helper()
	s := &server{t: t, done: make(chan struct{})}
	s.cmd = exec.Command(testserver.Binary(t), append([]string{"serve"}, args...)...)
	s.cmd.Dir = sh.dir
	s.cmd.Env = append(append(append([]string(nil), sh.env...), "KEYWARD_ADDR=127.0.0.1:0"), env...)
	pr, pw := io.Pipe()
	s.cmd.Stdout, s.cmd.Stderr = pw, pw
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				url <- m[1]
			}
		}
	}()
	go func() {
		s.cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	select {
	case s.URL = <-url:
	case <-s.done:
		t.Fatalf("keyward serve exited before listening:\n%s", s.Log())
	case <-time.After(60 * time.Second):
		t.Fatalf("keyward serve did not listen within 60s:\n%s", s.Log())
	}
	return s
}

// Log is everything the server printed so far.
func (s *server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Stop stops the server as Ctrl-C does and waits until it has exited: it
// has then finished the rehashes it started.
func (s *server) Stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		s.t.Fatalf("keyward serve did not stop within 30s:\n%s", s.Log())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Errorf("keyward serve exited with %d:\n%s", code, s.Log())
	}
}

// auth presents key to GET /v1/auth, as a proxy does, and returns the
// status.
func (s *server) auth(key string) int {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/v1/auth", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(key))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

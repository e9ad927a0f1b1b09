// Package harness builds keyward from this checkout and runs keyward serve
// on loopback for the load generators of the bench module (bench/load and
// bench/grpcload): the build, a free port, a server that is ready before it
// is used, its /metrics figures and keys made through the admin API.
package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// repoRoot returns the keyward checkout this program was built from: three
// levels above the folder of this file (bench/internal/harness).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Build builds keyward (without -race) from the checkout into dir and
// returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "keyward")
	log.Printf("building keyward (without -race) into %s", bin)
	build := exec.Command("go", "build", "-o", bin, "./cmd/keyward")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// FreeAddr returns a loopback address ("127.0.0.1:port") on a port that was
// free a moment ago.
func FreeAddr() string {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	return l.Addr().String()
}

// Server is a running keyward serve process.
type Server struct {
	cmd *exec.Cmd
	// URL is the base URL of its HTTP listener ("http://127.0.0.1:port").
	URL string
}

// Start runs bin with args (which must include "serve" and an --addr of
// addr), with KEYWARD_PEPPER set to pepper and its standard error on ours,
// and waits up to 30 seconds until /readyz answers 200.
func Start(bin, addr, pepper string, args ...string) (*Server, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KEYWARD_PEPPER="+pepper)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{cmd: cmd, URL: "http://" + addr}
	for range 600 {
		if resp, err := http.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("keyward serve did not become ready within 30s")
}

// Pid returns the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop interrupts the server and waits for it to exit.
func (s *Server) Stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

// Metric reads one counter or gauge without labels, or with the labels
// written as in the exposition (`name{label="value"}`), from the server's
// /metrics; 0 if it cannot.
func (s *Server) Metric(name string) float64 {
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+]+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// CreateKey creates a key through POST /v1/keys with the JSON body and
// the admin token, and returns its secret.
func (s *Server) CreateKey(adminToken, body string) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/keys", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var iss struct{ Secret string }
	if err := json.NewDecoder(resp.Body).Decode(&iss); err != nil || iss.Secret == "" {
		return "", fmt.Errorf("creating a key: %d %v", resp.StatusCode, err)
	}
	return iss.Secret, nil
}

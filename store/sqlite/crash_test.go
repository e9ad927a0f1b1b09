package sqlite_test

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

const crashChildEnv = "KEYWARD_SQLITE_CRASH_CHILD_DB"

// TestCrashChild is the child process of TestCrashSafety: it creates keys
// in a loop and prints each full key once its Create has returned.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("helper process for TestCrashSafety; runs only as its child")
	}
	svc := service(t, open(t, path))
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		iss, err := svc.Create(context.Background(), keyward.CreateParams{Name: "crash", Remaining: keyward.Ptr[int64](int64(i))})
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("KEY " + iss.Secret + "\n")
		out.Flush()
	}
}

// TestCrashSafety kills a process that is creating keys with SIGKILL at a
// random moment, several times over, and checks after each restart that every
// key whose Create returned is there and verifies, and that the file is sound.
func TestCrashSafety(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	open(t, path).Close() // migrate once
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var returned []string
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of creates, plus a random extra delay so
		// the signal lands anywhere inside a transaction.
		killAfter := 20 + rng.IntN(300)
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			if key, ok := strings.CutPrefix(sc.Text(), "KEY "); ok {
				returned = append(returned, key)
				n++
			}
			if n == killAfter {
				time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		// Lines already in the pipe were printed by creates that returned.
		for sc.Scan() {
			if key, ok := strings.CutPrefix(sc.Text(), "KEY "); ok {
				returned = append(returned, key)
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child did not die of SIGKILL: %v", round, err)
		}
		integrityCheck(t, path)
		s := open(t, path)
		svc := service(t, s)
		for _, key := range returned {
			r, err := svc.Verify(context.Background(), keyward.VerifyRequest{Key: key, Cost: keyward.Ptr[int64](0)})
			if err != nil || !r.Valid() {
				t.Fatalf("round %d: key %.24s... returned by Create but after the crash: %v %v", round, key, r.Outcome, err)
			}
		}
		svc.Close(context.Background())
		s.Close()
		t.Logf("round %d: killed after %d creates; all %d keys returned so far verify", round, n, len(returned))
	}
}

package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestStaleBinariesRemoved: the binary directory of a test process that is
// gone is removed; that of a running one stays.
func TestStaleBinariesRemoved(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skipf("cannot run a process to outlive: %v", err)
	}
	stale, err := os.MkdirTemp("", fmt.Sprintf("keyward-bin-%d-", gone.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, "keyward"), []byte("a binary"), 0o755)
	live, err := os.MkdirTemp("", fmt.Sprintf("keyward-bin-%d-", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(live)
	removeStaleBinaries()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		os.RemoveAll(stale)
		t.Errorf("the directory of a process that is gone stayed: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the directory of this process went: %v", err)
	}
}

//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/keyward/keyward"
)

// TestNewFilesAreOwnerOnly: a new database and its -wal and -shm files hold
// hashes and usage, so they are created 0600 (as the pepper file is), even
// under the usual umask 022.
func TestNewFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "k.db")
	s := open(t, path)
	svc := service(t, s)
	if _, err := svc.Create(context.Background(), keyward.CreateParams{Name: "k"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s is %#o, want 0600", filepath.Base(f), mode)
		}
	}
}

// Command keyward manages API keys: keyward serve runs the HTTP server,
// keyward migrate prepares a database, keyward keys ..., keyward owners ...
// and keyward roles ... manage keys, owner records and roles straight in the
// database, keyward scan finds leaked keys in files, and keyward version
// prints the version.
//
// Every flag has an environment variable KEYWARD_<FLAG> (upper case, '-' as
// '_'); a flag given on the command line wins.
//
// Exit status: 0 on success, 1 on an error or a failed verification, 2 on bad
// usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(exitCode(err))
}

// exitCode maps run's error to the process exit status.
func exitCode(err error) int {
	var ue *usageError
	var xe *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	case errors.As(err, &xe):
		return xe.code
	}
	return 1
}

// usageError is bad usage: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// exitError ends the command with a status, its message already printed (a
// failed verification exits 1 without an error line).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run is the whole program; tests call it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	root := newRoot(ctx, stdin, stdout, stderr, getenv)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return nil
	}
	var xe *exitError
	if !errors.As(err, &xe) {
		fmt.Fprintln(stderr, "keyward:", err)
	}
	if isUsage(err) {
		return &usageError{msg: err.Error()}
	}
	return err
}

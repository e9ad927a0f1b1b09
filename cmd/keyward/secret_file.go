package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
)

// secretFile is the file a new key's secret goes to with --secret-file
// (keys create, keys rotate) instead of the terminal. It is created before
// the key, with mode 0600 and never over an existing file, so that a path
// that cannot be written creates no key and no secret is lost.
type secretFile struct {
	path    string
	f       *os.File
	written bool
}

// registerSecretFile adds --secret-file to a verb that issues a secret.
func registerSecretFile(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "secret-file", "", "write the new key's secret to this new file (mode 0600) instead of printing it")
}

// openSecretFile creates the --secret-file of a verb that issues a secret,
// or returns nil when none is given. --output id prints nothing but the new
// key's id, so it needs one: the secret would be lost.
func openSecretFile(o *keysOptions, path string) (*secretFile, error) {
	if path == "" {
		if o.output == "id" {
			return nil, usagef("--output id prints only the new key's id: give --secret-file FILE to keep its secret")
		}
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, usagef("--secret-file %s exists already: a new key's secret goes only to a new file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	return &secretFile{path: path, f: f}, nil
}

// write puts the secret and a newline in the file (the form keys verify -
// reads) and closes it.
func (s *secretFile) write(secret, id string) error {
	_, err := s.f.WriteString(secret + "\n")
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("key %s was created but its secret could not be written to %s (%v): revoke it and try again", id, s.path, err)
	}
	s.written = true
	return nil
}

// discard removes the file unless the secret was written to it: the verb
// failed before issuing a key.
func (s *secretFile) discard() {
	if s == nil || s.written {
		return
	}
	s.f.Close()
	os.Remove(s.path)
}

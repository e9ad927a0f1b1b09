package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
)

// seed makes (or reuses) a SQLite database of n keys and returns its URL and
// the keys' secrets. Keys are made here and imported with keys import,
// which is much faster than n API calls.
func seed(bin, work string, n int) (string, []string, error) {
	path := filepath.Join(work, fmt.Sprintf("keys-%d.db", n))
	secretsPath := path + ".secrets"
	db := "sqlite:" + path
	if raw, err := os.ReadFile(secretsPath); err == nil {
		if _, err := os.Stat(path); err == nil {
			return db, strings.Fields(string(raw)), nil
		}
	}
	os.Remove(path)
	log.Printf("seeding %d keys into %s", n, path)
	secrets, err := importKeys(bin, db, path+".jsonl", n)
	if err != nil {
		return "", nil, err
	}
	os.WriteFile(secretsPath, []byte(strings.Join(secrets, "\n")), 0o600)
	return db, secrets, nil
}

// importKeys makes n keys, writes them to jsonl and imports them into the
// database at db (migrated first) with keys import, which is much faster
// than n API calls; it returns up to 100,000 of their secrets.
func importKeys(bin, db, jsonl string, n int) ([]string, error) {
	p, _ := keyhash.NewPepper([]byte(pepper))
	h, _ := keyhash.NewHMAC(p)
	f, err := os.Create(jsonl)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	// Keep at most 100,000 secrets for the load: enough to spread it.
	keep := min(n, 100_000)
	secrets := make([]string, 0, keep)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		tok, _ := keyward.NewToken("kw")
		hash, _ := h.Hash(tok.Secret)
		k := map[string]any{"id": tok.ID, "prefix": "kw", "name": fmt.Sprintf("load key %d", i), "owner": fmt.Sprintf("tenant-%d", i%100),
			"scopes": []string{"read"}, "metadata": map[string]any{}, "allowed_cidrs": []string{}, "enabled": true,
			"created_at": now, "updated_at": now, "hash": hash}
		enc.Encode(k)
		if i%(n/keep) == 0 && len(secrets) < keep {
			secrets = append(secrets, tok.String())
		}
	}
	w.Flush()
	f.Close()
	env := append(os.Environ(), "KEYWARD_PEPPER="+pepper)
	for _, args := range [][]string{{"migrate", "--database-url", db}, {"keys", "import", jsonl, "--database-url", db}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("keyward %s: %v\n%s", args[0], err, out)
		}
	}
	os.Remove(jsonl)
	return secrets, nil
}

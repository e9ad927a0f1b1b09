package main

import (
	"context"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/bench/internal/harness"
)

// The PostgreSQL and several-instance parts of the harness: a database of n
// keys on a PostgreSQL server, and a cluster of keyward serve processes
// sharing it (and Redis) under one load.

// cluster is the keyward serve processes under load; the load spreads over
// them by connection.
type cluster struct{ servers []*harness.Server }

func startCluster(bin, db string, n int, o serveOpts) (*cluster, error) {
	c := &cluster{}
	for range n {
		s, err := startServer(bin, db, o)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.servers = append(c.servers, s)
	}
	return c, nil
}

func (c *cluster) urls() []string {
	out := make([]string, len(c.servers))
	for i, s := range c.servers {
		out[i] = s.URL
	}
	return out
}

func (c *cluster) stop() {
	for _, s := range c.servers {
		s.Stop()
	}
}

// sum is a metric summed over the instances.
func (c *cluster) sum(name string) float64 {
	total := 0.0
	for _, s := range c.servers {
		total += s.Metric(name)
	}
	return total
}

// usageRows is the usage rows each instance has written so far (counts and
// last-used times).
func (c *cluster) usageRows() []float64 {
	out := make([]float64, len(c.servers))
	for i, s := range c.servers {
		out[i] = s.Metric(`keyward_usage_rows_written_total{kind="counts"}`) +
			s.Metric(`keyward_usage_rows_written_total{kind="last_used"}`)
	}
	return out
}

// seedPostgres makes (or reuses) the database keyward_load_<n> on the
// PostgreSQL server at server (a postgres:// URL of any database there)
// with n keys, and returns its URL and the keys' secrets.
func seedPostgres(bin, work, server string, n int) (string, []string, error) {
	name := fmt.Sprintf("keyward_load_%d", n)
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("-database-url must be a postgres:// URL, got %q", server)
	}
	u.Path = "/" + name
	db := u.String()
	secretsPath := filepath.Join(work, name+".secrets")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", nil, err
	}
	if raw, err := os.ReadFile(secretsPath); err == nil && exists {
		return db, strings.Fields(string(raw)), nil
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", nil, err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	log.Printf("seeding %d keys into PostgreSQL database %s", n, name)
	secrets, err := importKeys(bin, db, filepath.Join(work, name+".jsonl"), n)
	if err != nil {
		return "", nil, err
	}
	return db, secrets, os.WriteFile(secretsPath, []byte(strings.Join(secrets, "\n")), 0o600)
}

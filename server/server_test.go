package server_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/store/memory"
)

const adminToken = "an-admin-token-for-tests-of-32-characters-or-more"

type env struct {
	svc *keyward.Service
	srv *server.Server
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	p, _ := keyhash.NewPepper([]byte("server test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(memory.New(), h, &keyward.Options{Limiter: ratelimit.NewLocal(), UsageFlushInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close(context.Background()) })
	srv, err := server.New(server.Config{Service: svc, AdminToken: adminToken, Version: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	return &env{svc: svc, srv: srv}
}

package server

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/store/memory"
)

// internalServer is a Server of cfg on a Service over the memory store
// (the HMAC hasher, no usage flushes), for the tests inside the package.
func internalServer(t *testing.T, cfg Config) (*Server, *keyward.Service) {
	t.Helper()
	p, _ := keyhash.NewPepper([]byte("server test pepper, thirty-two bytes"))
	h, _ := keyhash.NewHMAC(p)
	svc, err := keyward.New(memory.New(), h, &keyward.Options{UsageFlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	cfg.Service = svc
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, svc
}

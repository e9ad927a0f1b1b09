package extauthz_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/extauthz"
)

// BenchmarkCheck is the Check of a valid key with a scope, called directly
// (no gRPC): the work keyward adds to gRPC's own.
func BenchmarkCheck(b *testing.B) {
	e := newEnv(b, envOptions{})
	iss := e.create(b, keyward.CreateParams{Owner: "acme", Scopes: []string{"read"}})
	s := extauthz.New(e.svc, nil)
	req := call{headers: bearer(iss.Secret), ext: map[string]string{"scopes": "read"}}.request()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := s.Check(ctx, req)
		if err != nil || resp.GetOkResponse() == nil {
			b.Fatal(resp, err)
		}
	}
}

// BenchmarkCheckGRPC is the same check through a gRPC client over
// 127.0.0.1, as Envoy calls it.
func BenchmarkCheckGRPC(b *testing.B) {
	e := newEnv(b, envOptions{})
	iss := e.create(b, keyward.CreateParams{Owner: "acme", Scopes: []string{"read"}})
	req := call{headers: bearer(iss.Secret), ext: map[string]string{"scopes": "read"}}.request()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := e.client.Check(ctx, req)
			if err != nil || resp.GetOkResponse() == nil {
				b.Fatal(resp, err)
			}
		}
	})
}

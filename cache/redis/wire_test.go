package redis

import (
	"testing"

	"github.com/keyward/keyward/cache"
)

func TestWireFormRoundTrip(t *testing.T) {
	for _, e := range []cache.Event{
		{Kind: cache.Invalidate, ID: "0123456789abcdef"},
		{Kind: cache.Created, ID: "0123456789abcdef"},
		{Kind: cache.Reset},
		{Kind: cache.OwnerChanged, ID: "acme: the {north} division"},
		{Kind: cache.RoleChanged, ID: "billing:admin"},
	} {
		got, ok := decode(encode(e))
		if !ok || got != e {
			t.Errorf("decode(encode(%+v)) = %+v, %v", e, got, ok)
		}
	}
	for _, bad := range []string{"", "x", "o:", "z:abc"} {
		if e, ok := decode(bad); ok {
			t.Errorf("decode(%q) = %+v, want refused", bad, e)
		}
	}
}

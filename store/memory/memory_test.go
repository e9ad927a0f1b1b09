package memory_test

import (
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/store/memory"
	"github.com/keyward/keyward/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store {
		s := memory.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

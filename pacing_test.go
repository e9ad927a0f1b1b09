package keyward_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testkit"
	"github.com/keyward/keyward/store/memory"
)

// slowGet makes reading one key take delay: a NOT_FOUND path (a wrong
// secret for that key) slower than the others, which a stale lookup time
// would not cover.
type slowGet struct {
	keyward.Store
	id    string
	delay time.Duration
}

func (s *slowGet) Get(ctx context.Context, id string) (*keyward.Key, error) {
	if id == s.id {
		time.Sleep(s.delay)
	}
	return s.Store.Get(ctx, id)
}

// TestNotFoundPacedToTheSlowestPath: with a lookup time that says 0 (the
// cache's window, when its Bloom filter keeps ids from the store), a
// NOT_FOUND answered at once still waits as long as recent NOT_FOUND
// answers took: an unknown id after wrong secrets that took 5 ms answers in
// no less than about 5 ms.
func TestNotFoundPacedToTheSlowestPath(t *testing.T) {
	ctx := context.Background()
	st := &slowGet{Store: memory.New(), delay: 5 * time.Millisecond}
	svc := testkit.NewService(t, st, nil, &keyward.Options{LookupTime: func() time.Duration { return 0 }})
	iss, err := svc.Create(ctx, keyward.CreateParams{Name: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	st.id = iss.Key.ID
	wrong := keyward.Token{Prefix: "kw", ID: iss.Key.ID, Secret: "0123456789012345678901234567890123456789"}.String()
	for range 20 {
		if r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: wrong}); err != nil || r.Outcome != keyward.OutcomeNotFound {
			t.Fatalf("wrong secret: %v %v", r.Outcome, err)
		}
	}
	unknown := keyward.Token{Prefix: "kw", ID: "UnknownUnknown00", Secret: "0123456789012345678901234567890123456789"}.String()
	start := time.Now()
	r, err := svc.Verify(ctx, keyward.VerifyRequest{Key: unknown})
	took := time.Since(start)
	if err != nil || r.Outcome != keyward.OutcomeNotFound {
		t.Fatalf("unknown id: %v %v", r.Outcome, err)
	}
	if took < 5*time.Millisecond {
		t.Errorf("an unknown id answered in %v after wrong secrets that took 5 ms each: the slower path shows", took)
	}
}

package keyward_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestNullableJSON checks the three states of a Nullable in JSON: absent
// (unset), null (cleared) and a value (set).
func TestNullableJSON(t *testing.T) {
	type body struct {
		At keyward.Nullable[time.Time]         `json:"at,omitzero"`
		RL keyward.Nullable[keyward.RateLimit] `json:"rl,omitzero"`
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		in   body
		json string
	}{
		{"unset", body{}, `{}`},
		{"cleared", body{At: keyward.Clear[time.Time](), RL: keyward.Clear[keyward.RateLimit]()}, `{"at":null,"rl":null}`},
		{"set", body{At: keyward.SetTo(at), RL: keyward.SetTo(keyward.RateLimit{Limit: 5, Period: keyward.Duration(time.Minute)})},
			`{"at":"2030-01-02T03:04:05Z","rl":{"limit":5,"period":"1m0s"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.in)
			if err != nil || string(b) != tc.json {
				t.Fatalf("Marshal: %s %v, want %s", b, err, tc.json)
			}
			var out body
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			if out.At.Set != tc.in.At.Set || out.RL.Set != tc.in.RL.Set {
				t.Errorf("Set after a round trip: %v %v, want %v %v", out.At.Set, out.RL.Set, tc.in.At.Set, tc.in.RL.Set)
			}
			if (out.At.Value == nil) != (tc.in.At.Value == nil) || out.At.Value != nil && !out.At.Value.Equal(*tc.in.At.Value) {
				t.Errorf("At after a round trip: %v, want %v", out.At.Value, tc.in.At.Value)
			}
			if (out.RL.Value == nil) != (tc.in.RL.Value == nil) || out.RL.Value != nil && *out.RL.Value != *tc.in.RL.Value {
				t.Errorf("RL after a round trip: %v, want %v", out.RL.Value, tc.in.RL.Value)
			}
		})
	}
	var n keyward.Nullable[int64]
	if err := json.Unmarshal([]byte(`"x"`), &n); err == nil {
		t.Error("a string decoded into Nullable[int64]")
	}
}

// TestSetRateLimits checks what a remote Verifier records: the states it
// sets come back from RateLimits, at most MaxRateChecks of them.
func TestSetRateLimits(t *testing.T) {
	var r keyward.Result
	if len(r.RateLimits()) != 0 {
		t.Fatal("the zero Result has limits")
	}
	states := make([]keyward.LimitState, keyward.MaxRateChecks+3)
	for i := range states {
		states[i] = keyward.LimitState{Name: string(rune('a' + i)), Owner: i%2 == 1, RateDecision: keyward.RateDecision{Limit: int64(i + 1)}}
	}
	r.SetRateLimits(states[:2])
	if got := r.RateLimits(); len(got) != 2 || got[1].Name != "b" || !got[1].Owner || got[1].Limit != 2 {
		t.Errorf("RateLimits = %+v", got)
	}
	r.SetRateLimits(states)
	if got := r.RateLimits(); len(got) != keyward.MaxRateChecks {
		t.Errorf("%d states kept, want %d", len(got), keyward.MaxRateChecks)
	}
	r.SetRateLimits(nil)
	if len(r.RateLimits()) != 0 {
		t.Error("SetRateLimits(nil) kept states")
	}
}

package httpauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpauth"
)

// headerSpy is a ResponseWriter that records whether Header was called.
type headerSpy struct {
	*httptest.ResponseRecorder
	asked bool
}

func (s *headerSpy) Header() http.Header {
	s.asked = true
	return s.ResponseRecorder.Header()
}

// TestValidWithoutLimitsLeavesHeadersAlone: WriteResult asks for the header
// map of a VALID answer only when it has rate-limit headers to set. net/http
// copies the header map of every response whose handler asked for it, so a
// needless call costs an allocation on every guarded request.
func TestValidWithoutLimitsLeavesHeadersAlone(t *testing.T) {
	spy := &headerSpy{ResponseRecorder: httptest.NewRecorder()}
	if !httpauth.WriteResult(spy, keyward.Result{Outcome: keyward.OutcomeValid}) {
		t.Fatal("WriteResult refused a VALID result")
	}
	if spy.asked {
		t.Error("WriteResult asked for the header map of a VALID result without rate limits")
	}

	spy = &headerSpy{ResponseRecorder: httptest.NewRecorder()}
	limited := keyward.Result{Outcome: keyward.OutcomeValid, RateLimit: keyward.RateDecision{Limit: 10, Remaining: 9, Reset: time.Minute}}
	httpauth.WriteResult(spy, limited)
	if spy.Header().Get("RateLimit") == "" {
		t.Errorf("a VALID result with a rate limit: no RateLimit header (%v)", spy.Header())
	}
}

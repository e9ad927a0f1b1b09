package webhook_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/keyward/keyward/webhook"
)

// A receiver checks every delivery before it trusts the body: the secret is
// the one shown when the endpoint was created.
func ExampleVerify() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// Handle the event once per webhook-id: deliveries may repeat.
		w.WriteHeader(http.StatusNoContent)
	})

	// What keyward sends:
	body := []byte(`{"id":"evt_1","type":"webhook.test","timestamp":"2026-01-02T03:04:05Z","data":{}}`)
	now := time.Now()
	sig, _ := webhook.Sign(secret, "evt_1", now, body)
	for _, b := range [][]byte{body, bytes.Replace(body, []byte("test"), []byte("fake"), 1)} {
		req := httptest.NewRequest(http.MethodPost, "/hooks", bytes.NewReader(b))
		req.Header.Set("webhook-id", "evt_1")
		req.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
		req.Header.Set("webhook-signature", sig)
		rec := httptest.NewRecorder()
		receiver.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 204
	// 401
}

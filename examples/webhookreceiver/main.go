// Command webhookreceiver receives keyward's webhooks with the standard
// library only: it checks each delivery's Standard Webhooks signature with
// the endpoint's secret, drops repeated deliveries by webhook-id, and logs
// the event. Give it the secret keyward printed when the endpoint was
// created:
//
//	KEYWARD_WEBHOOK_SECRET=whsec_... go run ./examples/webhookreceiver
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	http.Handle("POST /hooks/keyward", receiver(os.Getenv("KEYWARD_WEBHOOK_SECRET")))
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// receiver handles deliveries signed with secret: 204 for a delivery it
// accepts (or has seen before), 401 for one whose signature does not check.
func receiver(secret string) http.Handler {
	var mu sync.Mutex
	seen := map[string]bool{} // webhook-ids handled; keep them in your database
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		if err := verify(secret, r.Header, body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("webhook-id")
		mu.Lock()
		repeat := seen[id]
		seen[id] = true
		mu.Unlock()
		if !repeat {
			var event struct {
				ID   string          `json:"id"`
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			}
			json.Unmarshal(body, &event)
			log.Printf("event %s %s: %s", event.ID, event.Type, event.Data)
		}
		w.WriteHeader(http.StatusNoContent) // any 2xx: keyward stops retrying
	})
}

// verify checks a delivery as Standard Webhooks v1 says: the timestamp is
// within 5 minutes of now, and one of the "v1,<base64>" signatures is the
// HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>" keyed by the
// base64-decoded part of the secret after "whsec_", compared in constant
// time.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return errors.New("webhook-timestamp is not within 5 minutes of now")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		return errors.New("the secret is not whsec_ followed by base64")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		if v, sig, ok := strings.Cut(s, ","); ok && v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

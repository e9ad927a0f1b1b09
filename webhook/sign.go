package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// Tolerance is how far from the receiver's clock [Verify] accepts a
// webhook-timestamp, as the Standard Webhooks specification recommends.
const Tolerance = 5 * time.Minute

// Headers of a delivery (Standard Webhooks v1).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Errors of [Verify].
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("webhook: webhook-timestamp is not within 5 minutes of now")
	ErrSignature      = errors.New("webhook: no signature matches")
	ErrSecret         = errors.New("webhook: the secret is not whsec_ followed by base64")
)

// secretKey returns the HMAC key of a "whsec_..." secret.
func secretKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, keyward.WebhookSecretPrefix)
	if !ok {
		return nil, ErrSecret
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) == 0 {
		return nil, ErrSecret
	}
	return key, nil
}

// sign returns the base64 HMAC-SHA256, keyed by key, of "id.timestamp.body".
func sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the webhook-signature header value ("v1,<base64>") of a
// delivery of body with the given webhook-id and timestamp, signed with the
// endpoint's secret ("whsec_..."). It returns ErrSecret for a malformed
// secret.
func Sign(secret, id string, at time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + sign(key, id, at.Unix(), body), nil
}

// Verify checks a delivery as a Go receiver should, before it trusts the
// body: the three headers are there, webhook-timestamp is within Tolerance
// of now, and one of the space-separated v1 signatures of
// webhook-signature matches body under secret (compared in constant time).
// It returns nil, ErrMissingHeaders, ErrTimestamp, ErrSignature or ErrSecret.
// Use webhook-id to drop the deliveries already handled: a delivery may
// come more than once.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return ErrTimestamp
	}
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	want := []byte(sign(key, id, ts, body))
	for _, s := range strings.Fields(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if ok && v == "v1" && hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrSignature
}

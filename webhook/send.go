package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// GiveUpAfter is how long after the first attempt a delivery is retried.
const GiveUpAfter = 24 * time.Hour

// retryDelay is the wait after failed attempt number n (from 1): about 5 s,
// 30 s, 2 min, 10 min, 1 h, then every 4 h.
func retryDelay(n int) time.Duration {
	switch n {
	case 1:
		return 5 * time.Second
	case 2:
		return 30 * time.Second
	case 3:
		return 2 * time.Minute
	case 4:
		return 10 * time.Minute
	case 5:
		return time.Hour
	}
	return 4 * time.Hour
}

// nextAttempt returns when to try delivery d again after its failed attempt
// number n at now, first being the time of its first attempt: the delay of
// the schedule plus up to 10% (fixed per delivery and attempt, so that
// endpoints that fail together are not all retried in the same second), but
// no later than GiveUpAfter after the first attempt. It returns nil when
// that time has come: the delivery is given up.
func nextAttempt(d *keyward.Delivery, n int, first, now time.Time) *time.Time {
	deadline := first.Add(GiveUpAfter)
	if !now.Before(deadline) {
		return nil
	}
	wait := retryDelay(n)
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%d", d.ID, n)
	wait += wait * time.Duration(h.Sum32()%1000) / 10_000
	next := now.Add(wait)
	if next.After(deadline) {
		next = deadline
	}
	return &next
}

// maxErrorLength bounds the error text kept in the delivery log.
const maxErrorLength = 300

// send makes one attempt at delivery d and returns its record.
func (d *Dispatcher) send(ctx context.Context, del *keyward.Delivery, token string) keyward.AttemptRecord {
	now := d.now().UTC().Truncate(time.Millisecond)
	rec := keyward.AttemptRecord{DeliveryID: del.ID, Token: token, EventID: del.Event.ID, EventType: del.Event.Type, At: now}
	first := del.FirstAttemptAt
	if first.IsZero() {
		first = now
	}
	status, err := d.post(ctx, del, now)
	d.stats.attempts.Add(1)
	switch {
	case err == nil && status >= 200 && status < 300:
		d.stats.succeeded.Add(1)
		rec.Status = status
		return rec
	case errors.Is(err, ErrSecret):
		rec.Error = "the endpoint's secret is malformed: giving up"
		d.stats.gaveUp.Add(1)
		return rec
	case err != nil:
		rec.Error = err.Error()
	default:
		rec.Status, rec.Error = status, "HTTP "+strconv.Itoa(status)+" "+http.StatusText(status)
	}
	d.stats.failed.Add(1)
	rec.Next = nextAttempt(del, del.Attempts+1, first, now)
	if rec.Next == nil {
		d.stats.gaveUp.Add(1)
		rec.Error += fmt.Sprintf("; giving up: no success within %s of the first attempt", GiveUpAfter)
	}
	if len(rec.Error) > maxErrorLength {
		rec.Error = rec.Error[:maxErrorLength]
	}
	return rec
}

// post sends the signed POST of del and returns the answer's status.
func (d *Dispatcher) post(ctx context.Context, del *keyward.Delivery, now time.Time) (int, error) {
	body, err := json.Marshal(del.Event)
	if err != nil {
		return 0, fmt.Errorf("encoding the event: %w", err)
	}
	sig, err := Sign(del.Secret, del.Event.ID, now, body)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, del.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("bad request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "keyward-webhooks")
	req.Header.Set(HeaderID, del.Event.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	resp, err := d.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("no answer within %s", d.timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is on the endpoint already
		}
		return 0, err
	}
	// Drain a little of the body so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

package keyward

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Usage buckets.
const (
	BucketMinute = "minute"
	BucketHour   = "hour"
	BucketDay    = "day"
)

var bucketSizes = map[string]time.Duration{
	BucketMinute: time.Minute,
	BucketHour:   time.Hour,
	BucketDay:    24 * time.Hour,
}

// maxUsageBuckets bounds the size of one usage answer.
const maxUsageBuckets = 50000

// UsageParams selects a usage report. KeyID "" reports all keys together. To defaults to the end of the current
// minute, From to 24 hours before To, Bucket to "hour". From is rounded down
// and To up to whole minutes.
type UsageParams struct {
	KeyID string
	// Owner, if not "" (and KeyID is ""), reports the keys that carried this
	// owner when they were used, summed.
	Owner  string
	From   *time.Time
	To     *time.Time
	Bucket string
}

// UsageReport is the usage of one key: totals per outcome and a series of
// buckets (those without traffic left out). A bucket's start may lie before
// From: it then holds only the counts from From on.
type UsageReport struct {
	KeyID string `json:"key_id"`
	// Owner is the owner reported on, for an owner's usage.
	Owner  string           `json:"owner,omitempty"`
	Bucket string           `json:"bucket"`
	From   time.Time        `json:"from"`
	To     time.Time        `json:"to"`
	Totals map[string]int64 `json:"totals"`
	Series []UsagePoint     `json:"series"`
}

// UsagePoint is the counts per outcome in one bucket.
type UsagePoint struct {
	Start  time.Time        `json:"start"`
	Counts map[string]int64 `json:"counts"`
}

// Usage reports the usage of a key, which may have been deleted, of an
// owner's keys (p.Owner), or of all keys together when both are "". Returns
// ErrNotFound for an id that never existed, for an owner that has no record,
// no key and no usage in the range, or a *ValidationError.
func (s *Service) Usage(ctx context.Context, p UsageParams) (UsageReport, error) {
	var probs problems
	if p.Bucket == "" {
		p.Bucket = BucketHour
	}
	size, ok := bucketSizes[p.Bucket]
	if !ok {
		probs.add("bucket", "must be minute, hour or day")
	}
	// Minutes are the finest grain: from is rounded down and to up to whole
	// minutes, so the current minute is part of the default range.
	to := s.Now()
	if p.To != nil {
		to = p.To.UTC()
	}
	if t := to.Truncate(time.Minute); !t.Equal(to) || p.To == nil {
		to = t.Add(time.Minute)
	}
	from := to.Add(-24 * time.Hour)
	if p.From != nil {
		from = p.From.UTC().Truncate(time.Minute)
	}
	if !from.Before(to) {
		probs.add("from", "must be before to")
	} else if ok && to.Sub(from)/size > maxUsageBuckets {
		probs.add("from", fmt.Sprintf("the range holds more than %d buckets; use a larger bucket", maxUsageBuckets))
	}
	if err := probs.err(); err != nil {
		return UsageReport{}, err
	}
	if p.KeyID != "" {
		if err := s.existed(ctx, p.KeyID); err != nil {
			return UsageReport{}, err
		}
	}
	owner := p.Owner
	if p.KeyID != "" {
		owner = ""
	}
	counts, err := s.store.Usage(ctx, UsageQuery{KeyID: p.KeyID, Owner: owner, From: from, To: to, Bucket: size})
	if err != nil {
		return UsageReport{}, fmt.Errorf("keyward: reading usage: %w", err)
	}
	if owner != "" && len(counts) == 0 {
		if err := s.ownerKnown(ctx, owner); err != nil {
			return UsageReport{}, err
		}
	}
	rep := UsageReport{KeyID: p.KeyID, Owner: owner, Bucket: p.Bucket, From: from, To: to, Totals: map[string]int64{}, Series: []UsagePoint{}}
	byStart := map[int64]map[string]int64{}
	for _, c := range counts {
		code := c.Outcome.String()
		rep.Totals[code] += c.Count
		m := byStart[c.Start.Unix()]
		if m == nil {
			m = map[string]int64{}
			byStart[c.Start.Unix()] = m
		}
		m[code] += c.Count
	}
	starts := slices.Sorted(maps.Keys(byStart))
	for _, st := range starts {
		rep.Series = append(rep.Series, UsagePoint{Start: time.Unix(st, 0).UTC(), Counts: byStart[st]})
	}
	return rep, nil
}

// ownerKnown returns nil if the owner has a record or a key carries it,
// else ErrNotFound.
func (s *Service) ownerKnown(ctx context.Context, owner string) error {
	_, err := s.GetOwner(ctx, owner)
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	page, err := s.List(ctx, ListParams{Owner: owner, Limit: 1})
	if err != nil {
		return err
	}
	if len(page.Items) == 0 {
		return fmt.Errorf("keyward: owner %q: %w", owner, ErrNotFound)
	}
	return nil
}

// existed returns nil if a key with that id exists or ever existed (every
// key's creation is in the audit log, which outlives the key).
func (s *Service) existed(ctx context.Context, id string) error {
	notFound := fmt.Errorf("keyward: key %q: %w", id, ErrNotFound)
	if !ValidID(id) {
		return notFound
	}
	_, err := s.store.Get(NewFreshContext(ctx), id)
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	entries, err := s.store.ListAudit(ctx, AuditFilter{KeyID: id, Limit: 1})
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return notFound
	}
	return nil
}

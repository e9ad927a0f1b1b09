package cache

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/keyward/keyward"
)

// idFilter is a Bloom filter of the ids that exist; until it is built it
// excludes nothing.
type idFilter struct {
	mu       sync.RWMutex
	f        *bloom.BloomFilter
	building bool
	pending  []string // ids added while a new filter is being built
}

func (f *idFilter) excludes(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.f != nil && !f.f.TestString(id)
}

func (f *idFilter) ready() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.f != nil
}

func (f *idFilter) add(id string) {
	f.mu.Lock()
	if f.f != nil {
		f.f.AddString(id)
	}
	if f.building {
		f.pending = append(f.pending, id)
	}
	f.mu.Unlock()
}

func (f *idFilter) begin() {
	f.mu.Lock()
	f.building, f.pending = true, nil
	f.mu.Unlock()
}

// swap installs a newly built filter, with the ids added while it was built.
func (f *idFilter) swap(nf *bloom.BloomFilter) {
	f.mu.Lock()
	if nf != nil {
		for _, id := range f.pending {
			nf.AddString(id)
		}
		f.f = nf
	}
	f.building, f.pending = false, nil
	f.mu.Unlock()
}

// maintainFilter builds the filter of existing ids and rebuilds it every
// refresh, so ids created where no event reached us are found again. A store
// that cannot list its ids leaves the cache without a filter.
func (s *Store) maintainFilter(refresh time.Duration) {
	defer s.done.Done()
	t := time.NewTicker(refresh)
	defer t.Stop()
	for {
		err := s.rebuildFilter()
		if errors.Is(err, keyward.ErrUnsupported) {
			s.log.Info("cache: the store cannot list its ids: unknown ids are held off by the negative cache only", "err", err)
			return
		}
		if err != nil {
			s.log.Warn("cache: building the filter of existing ids failed; unknown ids go to the store", "err", err)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// rebuildFilter builds a filter sized for twice the current number of ids
// at a 0.1% false-positive rate.
func (s *Store) rebuildFilter() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.filter.begin()
	var ids []string
	err := s.next.KeyIDs(ctx, func(id string) error {
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		s.filter.swap(nil)
		return err
	}
	f := bloom.NewWithEstimates(uint(max(2*len(ids), 10_000)), 0.001)
	for _, id := range ids {
		f.AddString(id)
	}
	s.filter.swap(f)
	return nil
}

package cache

import "time"

// LookupTime returns how long a lookup in the store behind the cache takes:
// the 99th percentile of the latest 128 (0 before the first). Give it to
// keyward.Options.LookupTime, so that NOT_FOUND answers from the cache take
// as long as those that read the store.
func (s *Store) LookupTime() time.Duration { return s.lookups.P99() }

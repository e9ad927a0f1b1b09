package cache

// RebuildFilter rebuilds the filter of existing ids now, as the background
// maintenance does every FilterRefresh.
func (s *Store) RebuildFilter() error { return s.rebuildFilter() }

// FilterReady reports whether the filter of existing ids has been built.
func (s *Store) FilterReady() bool { return s.filter.ready() }

// WaitRefreshes waits for the background reloads started so far.
func (s *Store) WaitRefreshes() { s.refreshing.Wait() }

// Names returns the names the cache keeps keys and unknown ids under.
func (s *Store) Names() (keys, unknown []string) {
	for id := range s.entries.Keys() {
		keys = append(keys, id)
	}
	for id := range s.negative.Keys() {
		unknown = append(unknown, id)
	}
	return keys, unknown
}

// HealthyAt is healthyAt: the follower's health at a wall-clock reading.
func (f *Follower) HealthyAt(now int64) bool { return f.healthyAt(now) }

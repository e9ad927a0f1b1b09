package postgres

import "context"

// MigrateTo applies the migrations up to version v and no further: tests
// build a database of an older schema with it.
func (s *Store) MigrateTo(ctx context.Context, v int) error {
	for _, m := range s.migrations {
		if m.version > v {
			break
		}
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// Versions returns the versions of the embedded migrations, in order.
func (s *Store) Versions() []int {
	out := make([]int, len(s.migrations))
	for i, m := range s.migrations {
		out[i] = m.version
	}
	return out
}

// SpendGroups is the number of credit-spend groups run (spends.go).
func (s *Store) SpendGroups() int64 { return s.spends.Groups() }

// SpendsWaiting is the number of credit spends waiting for the next group.
func (s *Store) SpendsWaiting() int { return s.spends.Waiting() }

// SpendsRunning reports whether a group of credit spends is running.
func (s *Store) SpendsRunning() bool { return s.spends.Running() }

// SelectKey is the query of Get.
const SelectKey = selectKey

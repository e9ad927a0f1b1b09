package postgres

import "context"

// MigrateTo applies the migrations up to version v and no further: tests
// build a database of an older schema with it.
func (s *Store) MigrateTo(ctx context.Context, v int) error {
	for _, m := range s.migrations[:v] {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

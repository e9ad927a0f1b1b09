package sqlite

import "context"

// MigrateTo applies the migrations up to version v and no further: tests
// build a database of an older schema with it.
func (s *Store) MigrateTo(ctx context.Context, v int) error {
	for _, m := range migrations() {
		if m.version > v {
			break
		}
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// SpendGroups is the number of credit-spend groups run (spends.go).
func (s *Store) SpendGroups() int64 { return s.spends.Groups() }

// SpendsWaiting is the number of credit spends waiting for the next group.
func (s *Store) SpendsWaiting() int { return s.spends.Waiting() }

// SpendsRunning reports whether a group of credit spends is running.
func (s *Store) SpendsRunning() bool { return s.spends.Running() }

// SetMoveChunk sets the number of rows a flush moves from usage_recent into
// usage, for the test's duration.
func SetMoveChunk(t interface{ Cleanup(func()) }, n int) {
	old := moveChunk
	moveChunk = n
	t.Cleanup(func() { moveChunk = old })
}

// ReaderPool is the most connections the read-only pool opens.
func (s *Store) ReaderPool() int { return s.reader.Stats().MaxOpenConnections }

// WriterPragma returns the value of PRAGMA name on the writer connection.
func (s *Store) WriterPragma(ctx context.Context, name string) (string, error) {
	var v string
	err := s.writer.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// ReaderPragma returns the value of PRAGMA name on a read-only connection.
func (s *Store) ReaderPragma(ctx context.Context, name string) (string, error) {
	var v string
	err := s.reader.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

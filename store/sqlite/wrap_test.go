package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

// TestContextEndedMidTransaction: when the caller's context ends while a
// write runs, the store's error is the context's, whatever database/sql or
// the driver reported (an interrupted statement, a transaction already
// rolled back). The server answers such an error as a client that went
// away, not as an internal error.
func TestContextEndedMidTransaction(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "k.db"), &Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	t.Run("interrupted statement", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		err := s.inTx(ctx, "counting forever", func(tx *sql.Tx) error {
			// Never ends on its own: only the cancellation stops it.
			done := make(chan error, 1)
			go func() {
				_, err := tx.ExecContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c`)
				done <- err
			}()
			cancel()
			return <-done
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("a deadline as the cause", func(t *testing.T) {
		// As a group of spends ends when its last caller's deadline passed.
		ctx, expire := context.WithCancelCause(ctx)
		err := s.inTx(ctx, "writing", func(tx *sql.Tx) error {
			expire(context.DeadlineExceeded)
			return sql.ErrTxDone
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("transaction rolled back by database/sql", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		err := s.inTx(ctx, "writing", func(tx *sql.Tx) error {
			cancel()
			// database/sql rolls the transaction back once it sees the
			// context end; a statement after that fails with ErrTxDone.
			for {
				if _, err := tx.ExecContext(context.Background(), `SELECT 1`); err != nil {
					if !errors.Is(err, sql.ErrTxDone) {
						t.Fatalf("statement after the rollback: %v, want sql.ErrTxDone", err)
					}
					return err
				}
			}
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

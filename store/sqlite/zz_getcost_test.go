package sqlite

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"
)

func BenchmarkZZGetCost(b *testing.B) {
	path := os.Getenv("ZZ_DB")
	if path == "" {
		b.Skip("ZZ_DB unset")
	}
	ctx := context.Background()
	s, err := Open(ctx, path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var ids []string
	rows, err := s.reader.QueryContext(ctx, `SELECT id FROM keys ORDER BY random() LIMIT 20000`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	b.Run("Get", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := s.Get(ctx, ids[rand.IntN(len(ids))]); err != nil {
				b.Fatal(err)
			}
		}
	})
	plain, err := s.reader.PrepareContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE id = ?`)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("NoLastUsedExpr", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := scanKey(plain.QueryRowContext(ctx, ids[rand.IntN(len(ids))])); err != nil {
				b.Fatal(err)
			}
		}
	})
	ver, err := s.reader.PrepareContext(ctx, `SELECT updated_at FROM keys WHERE id = ?`)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("UpdatedAtOnly", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			var u int64
			if err := ver.QueryRowContext(ctx, ids[rand.IntN(len(ids))]).Scan(&u); err != nil {
				b.Fatal(err)
			}
		}
	})
}

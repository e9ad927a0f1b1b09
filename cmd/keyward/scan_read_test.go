package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/keyward/keyward"
)

// foundAt is a key the finder reported: line, column, key.
type foundAt struct {
	line, col int
	key       string
}

// TestKeyFinderBuffers reads text with keys at every distance from the
// cuts between buffers, and lines far longer than a buffer, through
// buffers of several sizes and readers that return a byte at a time: the
// keys, lines and columns are those of FindKeys on the whole text.
func TestKeyFinderBuffers(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{'b', 'u', 'f'}))
	var text []byte
	for range 300 {
		switch r.IntN(4) {
		case 0:
			text = append(text, '\n')
		case 1:
			text = append(text, strings.Repeat("word_", r.IntN(40))...)
		default:
			text = append(text, bytes.Repeat([]byte{"ab9_ .\n"[r.IntN(7)]}, r.IntN(30))...)
		}
		if r.IntN(3) == 0 {
			tok, _ := keyward.NewToken([]string{"kw", "sk_live", "abcdefghij0123456789"}[r.IntN(3)])
			text = append(text, tok.String()...)
		}
	}
	var want []foundAt
	keyward.FindKeys(text, func(start, end int) {
		line := bytes.Count(text[:start], []byte{'\n'}) + 1
		col := start - (bytes.LastIndexByte(text[:start], '\n') + 1) + 1
		want = append(want, foundAt{line, col, string(text[start:end])})
	})
	if len(want) < 50 {
		t.Fatalf("only %d keys in the text", len(want))
	}
	for _, size := range []int{keyward.MaxKeyLength + 1, 100, 128, 333, 4096} {
		for _, slow := range []bool{false, true} {
			var src io.Reader = bytes.NewReader(text)
			if slow {
				src = iotest.OneByteReader(src)
			}
			var got []foundAt
			f := &keyFinder{buf: make([]byte, size)}
			binary, err := f.find(context.Background(), src, func(line, col int, key []byte) error {
				got = append(got, foundAt{line, col, string(key)})
				return nil
			})
			if binary || err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("buffer %d, a byte a read %v: binary %v, err %v, found %d keys, want %d\n got %v\nwant %v",
					size, slow, binary, err, len(got), len(want), got, want)
			}
		}
	}
}

// TestKeyFinderBinary: a NUL byte in the first 8 KiB makes a file binary;
// one after is text.
func TestKeyFinderBinary(t *testing.T) {
	tok, _ := keyward.NewToken("")
	k := tok.String()
	for _, c := range []struct {
		text   string
		binary bool
	}{
		{"\x00" + k, true},
		{strings.Repeat("x", binaryProbe-1) + "\x00" + k, true},
		{strings.Repeat("x", binaryProbe) + "\x00 " + k, false},
	} {
		n := 0
		binary, err := newKeyFinder().find(context.Background(), strings.NewReader(c.text), func(int, int, []byte) error { n++; return nil })
		if err != nil || binary != c.binary || (n == 1) == c.binary {
			t.Errorf("NUL at %d: binary %v, %d keys, %v; want binary %v", strings.IndexByte(c.text, 0), binary, n, err, c.binary)
		}
	}
}

// endless is a stream of text that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestKeyFinderStopsWithContext: an endless standard input stops being
// read once the context ends (keyward scan - after Ctrl-C).
func TestKeyFinderStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newKeyFinder().find(ctx, endless{}, func(int, int, []byte) error { return nil })
	if err != context.Canceled {
		t.Errorf("find on an endless reader after cancel: %v, want context.Canceled", err)
	}
}

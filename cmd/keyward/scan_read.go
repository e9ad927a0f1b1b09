package main

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/keyward/keyward"
)

// binaryProbe is how much of a file is searched for a NUL byte to tell a
// binary file, as git does.
const binaryProbe = 8 << 10

// scanBufferSize is the buffer a keyFinder reads through: big enough for
// the binary probe, with a bounded cost per file however long its lines.
const scanBufferSize = 256 << 10

// keyFinder finds keys in streams with one buffer it reuses. It is not
// safe for concurrent use.
type keyFinder struct {
	buf []byte
}

func newKeyFinder() *keyFinder { return &keyFinder{buf: make([]byte, scanBufferSize)} }

// find calls fn with the line and column (1-based, in bytes) and the bytes
// of every key in r; key is only valid during the call. It reports whether
// r is binary (a NUL in its first 8 KiB), and then reads no further. It
// stops early with ctx's error when ctx ends.
//
// Keys never span lines, but lines can be any length, so r is read in
// buffers, not lines: each buffer after the first starts with the last
// keyward.MaxKeyLength bytes of the one before, and a key counts in the
// buffer where it is whole with the byte after it (see keyward.MaxKeyLength).
func (f *keyFinder) find(ctx context.Context, r io.Reader, fn func(line, col int, key []byte) error) (binary bool, err error) {
	const carry = keyward.MaxKeyLength
	buf := f.buf
	n, eof, err := fill(r, buf)
	if err != nil {
		return false, err
	}
	if bytes.IndexByte(buf[:min(n, binaryProbe)], 0) >= 0 {
		return true, nil
	}
	lines := lineCounter{line: 1}
	keep := 0 // bytes carried over from the previous buffer
	for {
		var ferr error
		keyward.FindKeys(buf[:n], func(start, end int) {
			if ferr != nil || end < keep || end == n && !eof {
				return // found before, or maybe cut short: found in the next buffer
			}
			lines.advance(buf, start)
			ferr = fn(lines.line, lines.off+start-lines.lineStart+1, buf[start:end])
		})
		if ferr != nil || eof {
			return false, ferr
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		drop := n - carry
		lines.advance(buf, drop)
		copy(buf, buf[drop:n])
		lines.shift(drop)
		keep = carry
		m, atEOF, err := fill(r, buf[carry:])
		if err != nil {
			return false, err
		}
		n, eof = carry+m, atEOF
	}
}

// fill reads into b until it is full or r ends, and reports whether r ended.
func fill(r io.Reader, b []byte) (n int, eof bool, err error) {
	n, err = io.ReadFull(r, b)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return n, true, nil
	}
	return n, false, err
}

// lineCounter follows line numbers through a buffer that slides along a
// stream: it counts the newlines before a position once.
type lineCounter struct {
	line      int // the line at pos
	lineStart int // stream offset where that line starts
	off       int // stream offset of buf[0]
	pos       int // newlines in buf before pos are counted
}

// advance counts the newlines in buf up to i.
func (c *lineCounter) advance(buf []byte, i int) {
	if i <= c.pos {
		return
	}
	seg := buf[c.pos:i]
	if n := bytes.Count(seg, []byte{'\n'}); n > 0 {
		c.line += n
		c.lineStart = c.off + c.pos + bytes.LastIndexByte(seg, '\n') + 1
	}
	c.pos = i
}

// shift says that the first n bytes of the buffer were dropped.
func (c *lineCounter) shift(n int) {
	c.off += n
	c.pos -= n
}

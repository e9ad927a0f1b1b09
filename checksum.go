package keyward

import "hash/crc32"

// The checksum of a key is the CRC-32 (IEEE) of everything before it. On
// amd64 the standard library computes CRC-32 by carry-less multiplication,
// without tables, over the first 16*k bytes of inputs of at least 64 (on
// other architectures this file changes nothing measurable); shorter inputs
// go through lookup tables, which is slower, and much slower once a busy
// server has pushed the tables out of the CPU cache. The body of a key with
// a short prefix ("kw") is under 64 bytes, but the key string itself, with
// its checksum, is longer: tokenChecksum takes the CRC of the first 64 bytes
// of the string and then undoes the steps of the bytes past the body. CRC
// steps can be undone because the top byte of every table entry differs:
// the register after a step names the table entry that made it.

// crcByTop maps the top byte of each entry of crc32.IEEETable to its index.
var crcByTop = func() (idx [256]byte) {
	for i, v := range crc32.IEEETable {
		idx[v>>24] = byte(i)
	}
	return idx
}()

// tokenChecksum returns crc32.ChecksumIEEE of s[:body].
func tokenChecksum(s string, body int) uint32 {
	const wide = 64 // the shortest input the standard library multiplies
	if body >= wide || len(s) < wide {
		return crc32.ChecksumIEEE(stringBytes(s[:body]))
	}
	t := crc32.IEEETable
	// A step of the inverted register r on byte v is r' = t[byte(r)^v] ^ r>>8.
	r := ^crc32.ChecksumIEEE(stringBytes(s[:wide]))
	for i := wide - 1; i >= body; i-- {
		j := crcByTop[r>>24] // byte(r)^v of the step that gave r
		r = (r^t[j])<<8 | uint32(j^s[i])
	}
	return ^r
}

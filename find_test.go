package keyward_test

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// span is a key found at b[start:end].
type span struct{ start, end int }

func findAll(b []byte) []span {
	var got []span
	keyward.FindKeys(b, func(start, end int) { got = append(got, span{start, end}) })
	return got
}

// mustToken returns a fresh key string with the given prefix.
func mustToken(tb testing.TB, prefix string) string {
	tb.Helper()
	tok, err := keyward.NewToken(prefix)
	if err != nil {
		tb.Fatal(err)
	}
	return tok.String()
}

// TestFindKeysInContext plants keys in the places they leak to, glued to
// the text before them or not, and checks what FindKeys reports. In each case, "{k}" is a key with the
// default prefix, "{s}" one with the prefix sk_live; want lists the keys
// expected, in order.
func TestFindKeysInContext(t *testing.T) {
	k := mustToken(t, "")
	s := mustToken(t, "sk_live")
	long := mustToken(t, "abcdefghij0123456789") // the longest prefix
	cases := []struct {
		name, text string
		want       []string
	}{
		{"alone", "{k}", []string{k}},
		{"line start and end", "{k}\nsecond line {s}\n", []string{k, s}},
		{"CRLF", "x\r\n{k}\r\n", []string{k}},
		{"punctuation", "({k}),[{s}];<{k}>!", []string{k, s, k}},
		{"adjacent, comma", "{k},{s}", []string{k, s}},
		{"JSON string", `{"api_key":"{k}","other_key": "{s}"}`, []string{k, s}},
		{"JSON escaped", `"line\n{k}\t"`, []string{k}},
		{"URL query", "https://api.example.com/v1/x?api_key={k}&page=2", []string{k}},
		{"URL user info", "https://user:{s}@example.com/", []string{s}},
		{"header", "Authorization: Bearer {k}\r\nX-Api-Key: {s}", []string{k, s}},
		{"env file", "API_KEY={k}\nexport STRIPE={s}", []string{k, s}},
		{"quotes", "key = '{k}' # or \"{s}\" or `{k}`", []string{k, s, k}},
		{"after an underscore", "API_KEY_{k} MY_{s}", []string{k, s}},
		{"after snake_case", "foo_bar_{k}", []string{k}},
		{"longest prefix", "{long}", []string{long}},
		{"after a non-ASCII byte", "é{k}é", []string{k}},
		{"glued to a word", "x{k} 9{k} API{k}", []string{k, k, k}},
		{"URL-encoded", "?q=%22{k}%22&key%3D{s}", []string{k, s}},
		{"followed by a word character", "{k}_ {k}Z {k}9", nil},
		{"none", "kw_ no key here __________ kw_1234567890123456_", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.NewReplacer("{k}", k, "{s}", s, "{long}", long).Replace(c.text)
			var got []string
			var prev int
			for _, sp := range findAll([]byte(text)) {
				if sp.start < prev || sp.end <= sp.start || sp.end > len(text) {
					t.Fatalf("bad or overlapping span %v after %d", sp, prev)
				}
				prev = sp.end
				got = append(got, text[sp.start:sp.end])
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("in %q found\n  %q\nwant\n  %q", text, got, c.want)
			}
		})
	}
}

// TestFindKeysOffsets checks exact offsets of keys at the very start and
// end of the input and in the middle of a line.
func TestFindKeysOffsets(t *testing.T) {
	k := mustToken(t, "kw")
	text := k + " middle=" + k + ";\n" + k
	want := []span{{0, len(k)}, {len(k) + 8, 2*len(k) + 8}, {len(text) - len(k), len(text)}}
	if got := findAll([]byte(text)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("spans %v, want %v", got, want)
	}
}

// TestFindKeysPrefixWithUnderscores: the prefix may hold '_', so the
// checksum decides which of the candidate prefixes is the key's.
func TestFindKeysPrefixWithUnderscores(t *testing.T) {
	for _, prefix := range []string{"kw", "sk_live", "a_b_c", "kw_", "x"} {
		k := mustToken(t, prefix)
		for _, before := range []string{"", " ", "foo_", "foo_bar_", "ab_cd_ef_gh_ij_kl_mn_op_", "X_"} {
			text := before + k
			got := findAll([]byte(text))
			if len(got) != 1 || text[got[0].start:got[0].end] != k {
				t.Errorf("in %q found %v, want %q", text, got, k)
			}
		}
	}
}

// TestFindKeysOneChangedCharacter changes each character of a key in turn
// (to a character of the same class, so the shape stays): never found.
func TestFindKeysOneChangedCharacter(t *testing.T) {
	k := mustToken(t, "sk_live")
	if len(findAll([]byte(k))) != 1 {
		t.Fatal("the unchanged key is not found")
	}
	for i := range len(k) {
		for _, c := range []byte{'a', 'z', '0', 'Q', '_'} {
			b := []byte(k)
			if b[i] == c {
				continue
			}
			b[i] = c
			if got := findAll(b); len(got) > 0 {
				t.Errorf("%q (character %d changed to %q): found %v", b, i, c, got)
			}
		}
	}
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// shapedKey appends to b a string of key shape, with a random prefix of
// [a-z][a-z0-9_]{0,19}, id and secret, and the right checksum if right,
// else a wrong one.
func shapedKey(b []byte, r *rand.Rand, right bool) []byte {
	const prefixChars = "abcdefghijklmnopqrstuvwxyz0123456789_"
	start := len(b)
	b = append(b, prefixChars[r.IntN(26)])
	for range r.IntN(20) {
		b = append(b, prefixChars[r.IntN(len(prefixChars))])
	}
	b = append(b, '_')
	var v uint64 // random bits, ten base62 characters' worth at a time
	for i := range 1 + keyward.IDLength + keyward.SecretLength {
		if i == keyward.IDLength {
			b = append(b, '_')
			continue
		}
		if i%10 == 0 {
			v = r.Uint64()
		}
		b = append(b, base62[v%62])
		v /= 62
	}
	const space = 62 * 62 * 62 * 62 * 62 * 62 // values of 6 base62 digits
	sum := uint64(crc32.ChecksumIEEE(b[start:]))
	if !right {
		sum = (sum + 1 + r.Uint64N(space-1)) % space
	}
	var d [keyward.ChecksumLength]byte
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = base62[sum%62]
		sum /= 62
	}
	return append(b, d[:]...)
}

// TestFindKeysNoFalsePositives writes 1,000,000 strings of key shape with
// wrong checksums, between separators of every kind, and plants a right key
// after every 1000th: exactly the planted keys are found.
func TestFindKeysNoFalsePositives(t *testing.T) {
	const total, batch, every = 1_000_000, 20_000, 1000
	r := rand.New(rand.NewChaCha8([32]byte{'k', 'w'}))
	seps := []byte(" \n\t\"',;:=()[]{}<>/?&.-+|")
	buf := make([]byte, 0, batch*100)
	for n := 0; n < total; n += batch {
		buf = buf[:0]
		var planted []span
		for i := range batch {
			buf = append(buf, seps[r.IntN(len(seps))])
			buf = shapedKey(buf, r, false)
			if (n+i)%every == every-1 {
				buf = append(buf, seps[r.IntN(len(seps))])
				start := len(buf)
				buf = shapedKey(buf, r, true)
				planted = append(planted, span{start, len(buf)})
			}
		}
		if got := findAll(buf); fmt.Sprint(got) != fmt.Sprint(planted) {
			for _, sp := range got {
				t.Logf("found %q", buf[sp.start:sp.end])
			}
			t.Fatalf("strings %d to %d: found %d keys, want the %d planted", n, n+batch, len(got), len(planted))
		}
	}
}

// findSlowly is FindKeys written the obvious way, as a reference: for each
// end that is followed by no word character, in order, the longest
// substring ending there that parses, not overlapping the key before.
func findSlowly(b []byte) []span {
	var got []span
	from := 0
	for end := 1; end <= len(b); end++ {
		if end < len(b) && (b[end] == '_' || strings.IndexByte(base62, b[end]) >= 0) {
			continue
		}
		for start := max(end-keyward.MaxKeyLength, from); start < end; start++ {
			if _, err := keyward.Parse(string(b[start:end])); err == nil {
				got = append(got, span{start, end})
				from = end
				break
			}
		}
	}
	return got
}

// FuzzFindKeys feeds arbitrary bytes: every reported range parses as a key,
// and FindKeys reports exactly what the slow reference finds.
func FuzzFindKeys(f *testing.F) {
	k := mustToken(f, "sk_live")
	for _, s := range []string{"", "_", k, "x" + k, "foo_" + k + "\n" + k, `{"k":"\n` + k + `"}`, strings.Repeat("_", 200)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := findAll(b)
		for _, sp := range got {
			if _, err := keyward.Parse(string(b[sp.start:sp.end])); err != nil {
				t.Fatalf("reported %q: %v", b[sp.start:sp.end], err)
			}
		}
		if want := findSlowly(b); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("FindKeys(%q) = %v, want %v", b, got, want)
		}
	})
}

// plainText returns about n bytes of prose and code-like text (words,
// snake_case names, numbers, punctuation, lines of about 70 characters)
// with a key planted in every mebibyte, and the number of planted keys.
func plainText(tb testing.TB, n int) ([]byte, int) {
	tb.Helper()
	words := strings.Fields(`the a key of to in is api service request user token secret value and for
		with config_file max_retries http_client user_id not_found base_url 2024 404 x86_64 TODO
		error: return nil; func() {} "name": [1, 2] <div> https://example.com/path?q=1 #include`)
	r := rand.New(rand.NewChaCha8([32]byte{'b', 'e', 'n', 'c', 'h'}))
	b := make([]byte, 0, n+1000)
	planted, line := 0, 0
	for len(b) < n {
		if len(b)>>20 > planted {
			b = append(append(b, mustToken(tb, "")...), ' ')
			planted++
		}
		w := words[r.IntN(len(words))]
		b = append(b, w...)
		line += len(w) + 1
		if line > 70 {
			b = append(b, '\n')
			line = 0
		} else {
			b = append(b, ' ')
		}
	}
	return b, planted
}

// BenchmarkFindKeys measures FindKeys on 100 MB of plain text with a key in
// every mebibyte (go test -run '^$' -bench FindKeys .); MB/s is the speed.
func BenchmarkFindKeys(b *testing.B) {
	text, planted := plainText(b, 100<<20)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		n := 0
		keyward.FindKeys(text, func(int, int) { n++ })
		if n != planted {
			b.Fatalf("found %d keys, want %d", n, planted)
		}
	}
}

// BenchmarkFindKeysShapes measures the worst kind of input: key-shaped
// strings with wrong checksums, one after another, each a CRC to compute.
func BenchmarkFindKeysShapes(b *testing.B) {
	r := rand.New(rand.NewChaCha8([32]byte{}))
	var text []byte
	for len(text) < 10<<20 {
		text = shapedKey(append(text, ' '), r, false)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		keyward.FindKeys(text, func(int, int) { b.Fatal("found a key") })
	}
}

// Find the keys in a text: a log line with one key, a wrong checksum (a
// typo), and a key glued to the word before it.
func ExampleFindKeys() {
	text := []byte(`GET /v1/items?api_key=kw_32pl2YI89o7WJi3Z_98Y3E361CZTH4neA7mzSyEf5lCZQOmW6DREvYHXr3fH4MW 200
typo: kw_32pl2YI89o7WJi3Z_98Y3E361CZTH4neA7mzSyEf5lCZQOmW6DREvYHXr3fH4MX
env: API_KEY_kw_32pl2YI89o7WJi3Z_98Y3E361CZTH4neA7mzSyEf5lCZQOmW6DREvYHXr3fH4MW`)
	keyward.FindKeys(text, func(start, end int) {
		tok, _ := keyward.Parse(string(text[start:end]))
		fmt.Printf("at %d: prefix %s, id %s\n", start, tok.Prefix, tok.ID)
	})
	// Output:
	// at 22: prefix kw, id 32pl2YI89o7WJi3Z
	// at 179: prefix kw, id 32pl2YI89o7WJi3Z
}

// TestFindGluedKeys: a key followed by word characters is not a key for
// FindKeys (a longer run), and is one for FindGluedKeys, which redaction
// uses; both agree on a key that ends at a boundary.
func TestFindGluedKeys(t *testing.T) {
	tok, _ := keyward.NewToken("kw")
	key := tok.String()
	collect := func(find func([]byte, func(int, int)), s string) []string {
		var out []string
		find([]byte(s), func(start, end int) { out = append(out, s[start:end]) })
		return out
	}
	for _, tc := range []struct {
		text        string
		plain, glue int
	}{{"x " + key + " y", 1, 1}, {key + "abc", 0, 1}, {key + "_tail", 0, 1}, {"/" + key + "9/usage", 0, 1}} {
		p, g := collect(keyward.FindKeys, tc.text), collect(keyward.FindGluedKeys, tc.text)
		if len(p) != tc.plain || len(g) != tc.glue || len(g) == 1 && g[0] != key {
			t.Errorf("%q: FindKeys %q, FindGluedKeys %q; want %d and %d (the key)", tc.text, p, g, tc.plain, tc.glue)
		}
	}
}

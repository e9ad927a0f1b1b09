package security

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/testserver"
)

// probeNotFound sends key to /v1/auth and returns the round trip as the
// client sees it (request sent to body read), failing unless the answer is
// 401 NOT_FOUND.
func probeNotFound(t *testing.T, client *http.Client, url, key string) time.Duration {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/v1/auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", key)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var buf [512]byte
	for {
		if _, err := resp.Body.Read(buf[:]); err != nil {
			break
		}
	}
	d := time.Since(start)
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("X-Keyward-Code") != "NOT_FOUND" {
		t.Fatalf("probe answered %d %s, want 401 NOT_FOUND", resp.StatusCode, resp.Header.Get("X-Keyward-Code"))
	}
	return d
}

// TestRejectionTiming compares the time /v1/auth takes to reject an unknown
// id and a wrong secret for an existing id at full speed: the medians must
// agree within the noise, or ids could be enumerated.
func TestRejectionTiming(t *testing.T) {
	skipTiming(t, "a timing comparison of 2,000 rejections")
	s := start(t)
	k := create(t, s, map[string]any{"name": "probed"})
	tok, err := keyward.Parse(k.Secret)
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret := func(i int) string {
		return keyward.Token{Prefix: tok.Prefix, ID: tok.ID, Secret: fmt.Sprintf("%040d", i)}.String()
	}
	unknownID := func(i int) string {
		return keyward.Token{Prefix: tok.Prefix, ID: fmt.Sprintf("U%015d", i), Secret: fmt.Sprintf("%040d", i)}.String()
	}
	client := &http.Client{}
	for i := range 100 { // warm up both paths
		probeNotFound(t, client, s.URL, wrongSecret(i))
		probeNotFound(t, client, s.URL, unknownID(i))
	}
	// 1,000 of each: every NOT_FOUND now waits for a store lookup's time
	// (milliseconds under the race detector on a busy host), and the
	// medians of 1,000 are already stable to a few percent.
	const n = 1000
	var a, b []time.Duration
	for i := range n { // interleaved, so drift hits both alike
		a = append(a, probeNotFound(t, client, s.URL, wrongSecret(1000+i)))
		b = append(b, probeNotFound(t, client, s.URL, unknownID(1000+i)))
	}
	ma, mb := percentile(a, 50), percentile(b, 50)
	diff := math.Abs(float64(ma - mb))
	t.Logf("median rejection: wrong secret %v, unknown id %v (difference %.1f%%)", ma, mb, 100*diff/float64(max(ma, mb)))
	if diff > 0.15*float64(max(ma, mb)) && diff > float64(20*time.Microsecond) {
		t.Errorf("wrong secret (%v) and unknown id (%v) differ by more than the noise", ma, mb)
	}
}

// TestRejectionTimingAtLowRate is the timing attack at a low rate: at a low
// request rate, where every never-seen id reads the store (the cache's
// budget of unknown lookups, 50 a second, is not spent) and the server is
// otherwise idle, a wrong secret for a cached key and an unknown id must take
// the same time as the client measures it. Without pacing (keyward serve not
// giving the cache's LookupTime to the Service) the unknown ids answer
// measurably slower: the store lookup shows.
//
// The two kinds of probe alternate, in random order within each pair (so a
// periodic background task, such as the 200 ms usage flush, cannot side with
// one kind), one probe every 20 ms (50 a second). After a warm-up that fills
// the cache's window of lookup times, 200 of each are compared:
//   - the medians may differ by at most 100 µs or 10% of the larger one,
//     whichever is larger. 100 µs is well below the store lookup plus the
//     timer the unpaced path skips (about 150 µs measured here, and more under
//     the race detector), and well above the spread of the medians of two
//     samples of 200 drawn from one distribution of loopback round trips;
//   - a Mann-Whitney U test must not tell the two samples apart (two-sided p
//     above 0.001): it compares the whole distributions, not only a middle
//     that a systematic shift of a part of the answers would leave alone.
func TestRejectionTimingAtLowRate(t *testing.T) {
	skipTiming(t, "a statistical test paced at 50 requests a second (about 12 s an attempt)")
	s := testserver.Start(t, nil, "--database-url", "sqlite:"+filepath.Join(t.TempDir(), "k.db"), "--admin-token", adminToken, "--cache-ttl", "1h")
	k := create(t, s, map[string]any{"name": "probed"})
	if r := s.Do(t, "GET", "/v1/auth", "", nil, "X-API-Key", k.Secret); r.Status != 200 {
		t.Fatalf("verifying the key once (to cache it): %d %s", r.Status, r.Body)
	}
	tok, err := keyward.Parse(k.Secret)
	if err != nil {
		t.Fatal(err)
	}
	// A host shared with other work can stall one kind of probe by chance
	// for long enough to move a test at p = 0.001; a leak moves every
	// attempt. So the test fails only when all attempts tell the two kinds
	// apart.
	const attempts = 5
	var failures []string
	for i := range attempts {
		problem := lowRateAttempt(t, s.URL, tok)
		if problem == "" {
			return
		}
		t.Logf("attempt %d of %d: %s", i+1, attempts, problem)
		failures = append(failures, problem)
	}
	t.Errorf("an attacker can tell a cached id from an unknown one: every attempt failed:\n%s", strings.Join(failures, "\n"))
}

// skipTiming skips a timing test in -short runs and in a -race run, where
// the packages tested beside it (go test runs packages in parallel) drown
// the differences these tests look for; make test runs them again in a
// process without -race, with nothing else running.
func skipTiming(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: " + what)
	}
	if raceEnabled {
		t.Skip("-race: " + what + "; make test runs it again without -race, with nothing else running")
	}
}

// lowRateAttempt probes url at 50 requests a second, alternating wrong
// secrets for tok's id and unknown ids, and returns "" when the two kinds
// cannot be told apart, or what told them apart.
func lowRateAttempt(t *testing.T, url string, tok keyward.Token) string {
	t.Helper()
	fresh := func() keyward.Token {
		tk, err := keyward.NewToken(tok.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	// (A) the cached key's id with another secret, well formed, right checksum.
	wrongSecret := func() string { return keyward.Token{Prefix: tok.Prefix, ID: tok.ID, Secret: fresh().Secret}.String() }
	// (B) an id never presented before: not in the negative cache.
	unknownID := func() string { return fresh().String() }

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	const warm, n = 64, 200
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	var a, b []time.Duration
	for i := range warm + n {
		var da, db time.Duration
		if rng.IntN(2) == 0 {
			<-tick.C
			da = probeNotFound(t, client, url, wrongSecret())
			<-tick.C
			db = probeNotFound(t, client, url, unknownID())
		} else {
			<-tick.C
			db = probeNotFound(t, client, url, unknownID())
			<-tick.C
			da = probeNotFound(t, client, url, wrongSecret())
		}
		if i >= warm {
			a, b = append(a, da), append(b, db)
		}
	}

	ma, mb := percentile(a, 50), percentile(b, 50)
	diff := ma - mb
	if diff < 0 {
		diff = -diff
	}
	_, z, p := mannWhitney(a, b)
	t.Logf("%d each at 50 probes/s; client round trips p25 / median / p75 / p90:", n)
	t.Logf("  (A) cached id, wrong secret: %v / %v / %v / %v", percentile(a, 25), ma, percentile(a, 75), percentile(a, 90))
	t.Logf("  (B) unknown id:              %v / %v / %v / %v", percentile(b, 25), mb, percentile(b, 75), percentile(b, 90))
	t.Logf("  medians differ by %v (%.1f%%); Mann-Whitney z = %.2f, p = %.3g", diff, 100*float64(diff)/float64(max(ma, mb)), z, p)
	limit := max(100*time.Microsecond, max(ma, mb)/10)
	var problems []string
	if diff > limit {
		problems = append(problems, fmt.Sprintf("median NOT_FOUND round trips: wrong secret %v, unknown id %v: they differ by %v, more than %v", ma, mb, diff, limit))
	}
	if p <= 0.001 {
		problems = append(problems, fmt.Sprintf("the round trips of wrong secrets and unknown ids are told apart (Mann-Whitney z = %.2f, p = %.3g)", z, p))
	}
	return strings.Join(problems, "; ")
}

// percentile returns the q-th percentile (0-100) of d, nearest rank.
func percentile(d []time.Duration, q int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*q/100)]
}

// mannWhitney returns the U statistic of a against b, its z score (normal
// approximation, corrected for ties) and the two-sided p value.
func mannWhitney(a, b []time.Duration) (u, z, p float64) {
	type obs struct {
		v     time.Duration
		fromA bool
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(x, y obs) int { return cmp.Compare(x.v, y.v) })
	n1, n2, n := float64(len(a)), float64(len(b)), float64(len(all))
	var rankA, ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // the mean of ranks i+1 .. j
		for _, o := range all[i:j] {
			if o.fromA {
				rankA += rank
			}
		}
		t := float64(j - i)
		ties += t*t*t - t
		i = j
	}
	u = rankA - n1*(n1+1)/2
	sigma := math.Sqrt(n1 * n2 / 12 * ((n + 1) - ties/(n*(n-1))))
	z = (u - n1*n2/2) / sigma
	return u, z, math.Erfc(math.Abs(z) / math.Sqrt2)
}

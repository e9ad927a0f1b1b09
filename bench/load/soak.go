package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/bench/internal/harness"
)

// SoakResult is the heap in use over a soak.
type SoakResult struct {
	Duration       string    `json:"duration"`
	Rate           int       `json:"rate"`
	Requests       int64     `json:"requests"`
	HeapAfterWarm  float64   `json:"heap_inuse_after_warmup_bytes"`
	HeapAtEnd      float64   `json:"heap_inuse_at_end_bytes"`
	Change         float64   `json:"change"`
	SamplesMB      []float64 `json:"samples_mb"`
	SampleInterval string    `json:"sample_interval"`
}

// soak sends requests at a fixed rate and samples the server's heap in use;
// the heap at the end must be within 10% of the heap after warm-up.
func soak(s *harness.Server, c config, pick func(*rand.Rand) string) (SoakResult, error) {
	res := SoakResult{Duration: c.soak.String(), Rate: c.rate, SampleInterval: "10s"}
	ctx, cancel := context.WithTimeout(context.Background(), c.soak)
	defer cancel()
	var sent atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(max(c.rate/c.concurrency, 1))
	for w := range c.concurrency {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			client := &http.Client{}
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				req, _ := http.NewRequest("GET", s.URL+"/v1/auth", nil)
				req.Header.Set("Authorization", "Bearer "+pick(r))
				if resp, err := client.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					sent.Add(1)
				}
			}
		})
	}
	// Warm-up: the cache keeps entries for the server's --stale-ttl (5
	// minutes), so they can serve during a database outage, and grows until
	// then; the warm-up is that plus a minute. Heap in use saws up and down
	// with each GC, so the comparison is between the mean of the minute after
	// warm-up and the mean of the last minute.
	warm := min(6*time.Minute, c.soak*6/10)
	var warmSamples []float64
	start := time.Now()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		heap := s.Metric("go_memstats_heap_inuse_bytes")
		res.SamplesMB = append(res.SamplesMB, heap/1e6)
		if since := time.Since(start); since >= warm && since < warm+time.Minute+time.Second {
			warmSamples = append(warmSamples, heap)
		}
		log.Printf("soak %v: %d requests, heap in use %.1f MB", time.Since(start).Round(time.Second), sent.Load(), heap/1e6)
	}
	wg.Wait()
	res.Requests = sent.Load()
	mean := func(v []float64) float64 {
		sum := 0.0
		for _, x := range v {
			sum += x
		}
		return sum / float64(max(len(v), 1))
	}
	last := res.SamplesMB[max(len(res.SamplesMB)-6, 0):]
	res.HeapAfterWarm = mean(warmSamples)
	res.HeapAtEnd = mean(last) * 1e6
	res.Change = (res.HeapAtEnd - res.HeapAfterWarm) / res.HeapAfterWarm
	fmt.Printf("soak of %s at %d req/s: %d requests; heap in use, mean of the minute after a %v warm-up %.1f MB, mean of the last minute %.1f MB (%+.1f%%)\n",
		c.soak, c.rate, res.Requests, warm, res.HeapAfterWarm/1e6, res.HeapAtEnd/1e6, 100*res.Change)
	if res.Change > 0.10 || res.Change < -0.10 {
		return res, fmt.Errorf("heap in use changed by %+.1f%% over the soak: more than 10%%", 100*res.Change)
	}
	fmt.Println("heap stayed within 10%: PASS")
	return res, nil
}

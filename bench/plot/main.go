// Command plot draws the figures of docs/benchmarks.md from the JSON files
// that bench/load writes (gonum.org/v1/plot, PNG). It lives in the bench
// module; from the repository's root:
//
//	go -C bench run ./plot -in out -out ../docs/img
//
// It expects keys-<N>.json for several key counts (the scale sweep) and
// miss-<N>.json (the same key count with every verification reading the
// store), as bench/run.sh makes them.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

type result struct {
	Name  string  `json:"name"`
	RPS   float64 `json:"rps"`
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
}

type report struct {
	Keys    int      `json:"keys"`
	Results []result `json:"results"`
}

func (r report) find(prefix string) result {
	for _, x := range r.Results {
		if len(x.Name) >= len(prefix) && x.Name[:len(prefix)] == prefix {
			return x
		}
	}
	return result{}
}

// static is the mean of the two static-handler runs of a report.
func (r report) static() result {
	var sum result
	n := 0.0
	for _, x := range r.Results {
		if len(x.Name) >= 6 && x.Name[:6] == "static" {
			sum.RPS += x.RPS
			sum.P50Ms += x.P50Ms
			sum.P90Ms += x.P90Ms
			sum.P99Ms += x.P99Ms
			n++
		}
	}
	return result{Name: "static handler", RPS: sum.RPS / n, P50Ms: sum.P50Ms / n, P90Ms: sum.P90Ms / n, P99Ms: sum.P99Ms / n}
}

func load(path string) report {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	return r
}

func main() {
	in := flag.String("in", "out", "directory of bench/load JSON results")
	out := flag.String("out", "../docs/img", "directory for the PNG files")
	flag.Parse()
	files, _ := filepath.Glob(filepath.Join(*in, "keys-*.json"))
	var sweep []report
	for _, f := range files {
		sweep = append(sweep, load(f))
	}
	if len(sweep) == 0 {
		log.Fatalf("no keys-*.json in %s: run bench/run.sh first", *in)
	}
	slices.SortFunc(sweep, func(a, b report) int { return a.Keys - b.Keys })
	os.MkdirAll(*out, 0o755)

	// 1. Requests per second against keys in the store.
	p := plot.New()
	p.Title.Text = "keyward serve on loopback: requests/s vs keys in store (SQLite)"
	p.X.Label.Text = "keys in the store"
	p.Y.Label.Text = "requests per second"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = keyTicks{}
	p.Y.Tick.Marker = intTicks{}
	series := func(pick func(report) result) plotter.XYs {
		xys := make(plotter.XYs, len(sweep))
		for i, r := range sweep {
			xys[i].X, xys[i].Y = float64(r.Keys), pick(r).RPS
		}
		return xys
	}
	must(plotutil.AddLinePoints(p,
		"static handler (baseline)", series(report.static),
		"/v1/auth, valid keys", series(func(r report) result { return r.find("/v1/auth (valid") }),
		"/v1/auth, mixed (80% valid, 10% unknown, 10% rate-limited)", series(func(r report) result { return r.find("/v1/auth (mixed") }),
	))
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = false, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(10), vg.Points(10)
	save(p, *out, "bench-rps-vs-keys.png")

	// 2. Latency percentiles at the largest store.
	big := sweep[len(sweep)-1]
	scen := []result{big.static(), big.find("/v1/auth (valid"), big.find("/v1/auth (mixed")}
	labels := []string{"static", "/v1/auth valid", "/v1/auth mixed"}
	p = plot.New()
	p.Title.Text = fmt.Sprintf("latency percentiles, %s keys in store", humanKeys(big.Keys))
	p.Y.Label.Text = "milliseconds"
	w := vg.Points(40)
	for i, q := range []struct {
		name string
		get  func(result) float64
	}{{"p50", func(r result) float64 { return r.P50Ms }}, {"p90", func(r result) float64 { return r.P90Ms }}, {"p99", func(r result) float64 { return r.P99Ms }}} {
		vals := make(plotter.Values, len(scen))
		for j, s := range scen {
			vals[j] = q.get(s)
		}
		bars, err := plotter.NewBarChart(vals, w)
		must(err)
		bars.Color = plotutil.Color(i)
		bars.Offset = vg.Length(i-1) * w
		p.Add(bars)
		p.Legend.Add(q.name, bars)
	}
	p.NominalX(labels...)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(10)
	save(p, *out, "bench-latency.png")

	// 3. Cache hit against cache miss, on the same store: every key cached,
	// against every verification reading SQLite (cache TTL 1ns).
	misses, _ := filepath.Glob(filepath.Join(*in, "miss-*.json"))
	if len(misses) > 0 {
		miss := load(misses[0])
		var hit report
		for _, r := range sweep {
			if r.Keys == miss.Keys {
				hit = r
			}
		}
		if hit.Keys == 0 {
			log.Fatalf("no keys-%d.json to compare miss-%d.json with", miss.Keys, miss.Keys)
		}
		p = plot.New()
		p.Title.Text = fmt.Sprintf("cache hit vs miss: /v1/auth with valid keys, %s keys in store", humanKeys(miss.Keys))
		p.Y.Label.Text = "requests per second"
		p.Y.Tick.Marker = intTicks{}
		vals := plotter.Values{hit.static().RPS, hit.find("/v1/auth (valid").RPS, miss.find("/v1/auth (valid").RPS}
		bars, err := plotter.NewBarChart(vals, vg.Points(60))
		must(err)
		bars.Color = plotutil.Color(1)
		p.Add(bars)
		p.NominalX("static handler", "cache hit (TTL 30s)", "cache miss (every request reads SQLite)")
		save(p, *out, "bench-cache.png")
	}
	log.Printf("wrote the figures to %s", *out)
}

func humanKeys(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// keyTicks labels a log axis of key counts: 1k, 10k, 100k, 1M.
type keyTicks struct{}

func (keyTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	for v := 1.0; v <= max*1.01; v *= 10 {
		if v >= min*0.99 {
			out = append(out, plot.Tick{Value: v, Label: humanKeys(int(v))})
		}
	}
	return out
}

// intTicks is the default ticker with whole-number labels.
type intTicks struct{}

func (intTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', -1, 64)
		}
	}
	return ticks
}

func save(p *plot.Plot, dir, name string) {
	must(p.Save(9*vg.Inch, 5*vg.Inch, filepath.Join(dir, name)))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

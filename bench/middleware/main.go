// Command middleware serves the same trivial handler twice on loopback, bare
// at /bare and behind httpauth at /guarded (a Service on the memory store
// with the HMAC hasher), and prints a valid key, for a load generator to
// compare the two in one run (it lives in the bench module; from the
// repository's root):
//
//	go -C bench run ./middleware -addr 127.0.0.1:18090 &
//	wrk -t2 -c64 -d10s --latency http://127.0.0.1:18090/bare
//	wrk -t2 -c64 -d10s --latency -H "Authorization: Bearer $KEY" http://127.0.0.1:18090/guarded
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/httpauth"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/memory"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "loopback address to listen on")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the first 10s after the first request to this file")
	flag.Parse()
	p, err := keyhash.NewPepper([]byte("middleware benchmark pepper, 32 bytes+"))
	if err != nil {
		log.Fatal(err)
	}
	h, _ := keyhash.NewHMAC(p)
	c, _ := cache.New(memory.New(), nil)
	svc, err := keyward.New(c, h, &keyward.Options{Limiter: ratelimit.NewLocal()})
	if err != nil {
		log.Fatal(err)
	}
	iss, err := svc.Create(context.Background(), keyward.CreateParams{Name: "load"})
	if err != nil {
		log.Fatal(err)
	}
	ok := []byte("ok\n")
	trivial := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(ok) })
	mux := http.NewServeMux()
	mux.Handle("GET /bare", trivial)
	mux.Handle("GET /guarded", httpauth.New(svc, nil)(trivial))
	// /stub: the middleware with a verifier that does no work, to separate
	// the middleware's own cost from Verify's.
	stubRes := keyward.Result{Outcome: keyward.OutcomeValid, Key: iss.Key, Remaining: -1}
	mux.Handle("GET /stub", httpauth.New(stub{stubRes}, nil)(trivial))
	fmt.Fprintln(os.Stdout, iss.Secret)
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		time.AfterFunc(12*time.Second, func() { pprof.StopCPUProfile(); f.Close() })
	}
	log.Fatal(http.ListenAndServe(*addr, mux))
}

type stub struct{ res keyward.Result }

func (s stub) Verify(context.Context, keyward.VerifyRequest) (keyward.Result, error) {
	return s.res, nil
}

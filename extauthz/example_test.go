package extauthz_test

import (
	"log"
	"net"

	"google.golang.org/grpc"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/extauthz"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/memory"
)

// Example serves Envoy's Check on a port of its own (it compiles and is not
// run: Serve blocks).
func Example() {
	peppers, err := keyhash.ParsePeppers("a server-side secret of at least 32 bytes")
	if err != nil {
		log.Fatal(err)
	}
	hasher, err := keyhash.NewHMAC(peppers...)
	if err != nil {
		log.Fatal(err)
	}
	svc, err := keyward.New(memory.New(), hasher, &keyward.Options{Limiter: ratelimit.NewLocal()})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:9001")
	if err != nil {
		log.Fatal(err)
	}
	gs := grpc.NewServer()
	extauthz.New(svc, nil).Register(gs)
	gs.Serve(ln)
}

// Command quickstart is the library quick start of keyward's README: a
// service that keeps its API keys in a SQLite file and guards GET /invoices
// with them. It issues a key at each start and prints a curl command that
// uses it. Run it with a pepper of at least 32 bytes:
//
//	KEYWARD_PEPPER=$(head -c 32 /dev/urandom | base64) go run ./examples/quickstart
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/cache"
	"github.com/keyward/keyward/httpauth"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/sqlite"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	flag.Parse()
	if err := run(context.Background(), *addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string) error {
	// The pepper is a server-side secret of at least 32 bytes, kept out of the
	// database. ParsePeppers reads KEYWARD_PEPPER as keyward serve does: the
	// current pepper, then during a rotation the older ones ("new,old").
	peppers, err := keyhash.ParsePeppers(os.Getenv("KEYWARD_PEPPER"))
	if err != nil {
		return fmt.Errorf("KEYWARD_PEPPER: %w", err)
	}
	hasher, err := keyhash.NewHMAC(peppers...)
	if err != nil {
		return err
	}
	db, err := sqlite.Open(ctx, "keys.db", &sqlite.Options{Migrate: true})
	if err != nil {
		return err
	}
	store, err := cache.New(db, nil) // the verified-key cache: ~0.25 µs per verification
	if err != nil {
		db.Close()
		return err
	}
	defer store.Close() // closes db too
	svc, err := keyward.New(store, hasher, &keyward.Options{Limiter: ratelimit.NewLocal()})
	if err != nil {
		return err
	}
	defer svc.Close(ctx) // writes the last usage counts

	issued, err := svc.Create(ctx, keyward.CreateParams{
		Name:      "billing service",
		Owner:     "team-billing",
		Scopes:    []string{"invoices:read"},
		RateLimit: &keyward.RateLimit{Limit: 100, Period: keyward.Duration(time.Minute)},
	})
	if err != nil {
		return err
	}
	// Hand issued.Secret to the client now: only its hash is stored.

	// Guard any net/http handler; the verified key is on the request context.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /invoices", func(w http.ResponseWriter, r *http.Request) {
		key, _ := keyward.KeyFromContext(r.Context())
		fmt.Fprintln(w, "invoices of", key.Owner)
	})
	guard := httpauth.New(svc, &httpauth.Options{Scopes: []string{"invoices:read"}})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("curl -H 'Authorization: Bearer %s' http://%s/invoices\n", issued.Secret, ln.Addr())
	return http.Serve(ln, guard(mux))
}

package keyward_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keyhash"
	"github.com/keyward/keyward/ratelimit"
	"github.com/keyward/keyward/store/memory"
)

// newService wires a Service the way a program would: a store, a hasher with
// a server-side pepper, and a rate limiter.
func newService(now func() time.Time) *keyward.Service {
	pepper, err := keyhash.NewPepper([]byte("a server-side secret of at least 32 bytes"))
	if err != nil {
		panic(err)
	}
	hasher, err := keyhash.NewHMAC(pepper)
	if err != nil {
		panic(err)
	}
	svc, err := keyward.New(memory.New(), hasher, &keyward.Options{Limiter: ratelimit.NewLocal(), Now: now})
	if err != nil {
		panic(err)
	}
	return svc
}

// issueAndVerify is the code of the package documentation.
func issueAndVerify(ctx context.Context, store keyward.Store, hasher keyward.Hasher) error {
	svc, err := keyward.New(store, hasher, &keyward.Options{Limiter: ratelimit.NewLocal()})
	if err != nil {
		return err
	}
	defer svc.Close(ctx)
	issued, err := svc.Create(ctx, keyward.CreateParams{Name: "billing", Scopes: []string{"invoices:read"}})
	if err != nil {
		return err
	}
	// Give issued.Secret to the client: it is never shown again. Later, check
	// the key the client presents:
	res, err := svc.Verify(ctx, keyward.VerifyRequest{Key: issued.Secret, Scopes: []string{"invoices:read"}})
	if err != nil {
		return err // the store is unreachable: answer 503
	}
	if !res.Valid() {
		return fmt.Errorf("refused: %s", res.Outcome) // res.Outcome says why
	}
	fmt.Println(res.Outcome, res.Key.Name, res.Key.Scopes)
	return nil
}

// The code of the package documentation: a Service on a store and a hasher
// issues a key and verifies it.
func Example_packageDoc() {
	pepper, err := keyhash.NewPepper([]byte("a server-side secret of at least 32 bytes"))
	if err != nil {
		panic(err)
	}
	hasher, err := keyhash.NewHMAC(pepper)
	if err != nil {
		panic(err)
	}
	if err := issueAndVerify(context.Background(), memory.New(), hasher); err != nil {
		fmt.Println(err)
	}
	// Output:
	// VALID billing [invoices:read]
}

// Issue a key, hand its secret to the client once, and verify what the client
// presents later.
func Example() {
	ctx := context.Background()
	svc := newService(nil)
	defer svc.Close(ctx)

	issued, err := svc.Create(ctx, keyward.CreateParams{Name: "billing service", Owner: "team-billing"})
	if err != nil {
		panic(err)
	}
	fmt.Println("secret looks like:", strings.SplitN(issued.Secret, "_", 2)[0]+"_...")

	res, err := svc.Verify(ctx, keyward.VerifyRequest{Key: issued.Secret})
	if err != nil {
		panic(err) // the store is unreachable; answer 503
	}
	fmt.Println(res.Outcome, res.Key.Owner)

	typo := issued.Secret[:len(issued.Secret)-1] + "x"
	if typo == issued.Secret {
		typo = typo[:len(typo)-1] + "y"
	}
	res, _ = svc.Verify(ctx, keyward.VerifyRequest{Key: typo})
	fmt.Println(res.Outcome)
	// Output:
	// secret looks like: kw_...
	// VALID team-billing
	// MALFORMED
}

// Required scopes must all be granted; "res:*" grants every scope under
// "res:".
func ExampleService_Verify_scopes() {
	ctx := context.Background()
	svc := newService(nil)
	defer svc.Close(ctx)

	issued, _ := svc.Create(ctx, keyward.CreateParams{Name: "reporting", Scopes: []string{"invoices:*", "customers:read"}})

	for _, need := range [][]string{
		{"invoices:read"},
		{"invoices:read", "customers:read"},
		{"customers:write"},
	} {
		res, _ := svc.Verify(ctx, keyward.VerifyRequest{Key: issued.Secret, Scopes: need})
		if res.MissingScope != "" {
			fmt.Println(need, res.Outcome, "missing", res.MissingScope)
		} else {
			fmt.Println(need, res.Outcome)
		}
	}
	// Output:
	// [invoices:read] VALID
	// [invoices:read customers:read] VALID
	// [customers:write] INSUFFICIENT_SCOPE missing customers:write
}

// Rotate a key: the successor works at once and the old key keeps working
// for the grace period, so clients can switch without downtime.
func ExampleService_Rotate() {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	svc := newService(func() time.Time { return now })
	defer svc.Close(ctx)

	old, _ := svc.Create(ctx, keyward.CreateParams{Name: "deploy bot"})
	next, _ := svc.Rotate(ctx, old.Key.ID, keyward.RotateParams{GracePeriod: keyward.Ptr(keyward.Duration(24 * time.Hour))})
	fmt.Println("successor replaces the old key:", *next.Key.Replaces == old.Key.ID)

	check := func(label, secret string) {
		res, _ := svc.Verify(ctx, keyward.VerifyRequest{Key: secret})
		fmt.Println(label, res.Outcome)
	}
	check("old key during grace:", old.Secret)
	check("new key:", next.Secret)

	now = now.Add(25 * time.Hour)
	check("old key after grace:", old.Secret)
	check("new key:", next.Secret)
	// Output:
	// successor replaces the old key: true
	// old key during grace: VALID
	// new key: VALID
	// old key after grace: EXPIRED
	// new key: VALID
}

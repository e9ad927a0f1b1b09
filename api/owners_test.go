package api_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

func TestOwnerBody(t *testing.T) {
	p := keyward.OwnerParams{
		Metadata:   json.RawMessage(`{"plan":"pro"}`),
		RateLimits: []keyward.NamedRateLimit{{Name: "daily", Limit: 1000, Period: keyward.Duration(24 * time.Hour)}},
		Remaining:  keyward.Ptr[int64](50), Refill: &keyward.Refill{Interval: keyward.RefillMonthly, Amount: 50},
	}
	b, js := roundTrip(t, api.NewOwnerBody(p))
	want := `{"metadata":{"plan":"pro"},"rate_limits":[{"name":"daily","limit":1000,"period":"24h0m0s"}],"remaining":50,"refill":{"interval":"monthly","amount":50}}`
	if js != want {
		t.Errorf("JSON\n%s\nwant\n%s", js, want)
	}
	if got := b.Params(); !reflect.DeepEqual(got, p) {
		t.Errorf("Params after a round trip: %+v, want %+v", got, p)
	}
	if got := (*api.OwnerBody)(nil).Params(); !reflect.DeepEqual(got, keyward.OwnerParams{}) {
		t.Errorf("Params of no body: %+v, want the defaults", got)
	}
}

func TestUpdateOwnerBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    keyward.OwnerUpdate
		json string
	}{
		{"nothing", keyward.OwnerUpdate{}, `{}`},
		{"top up", keyward.OwnerUpdate{Remaining: keyward.SetTo[int64](1000)}, `{"remaining":1000}`},
		{"clear", keyward.OwnerUpdate{Remaining: keyward.Clear[int64](), Refill: keyward.Clear[keyward.Refill](), RateLimits: &[]keyward.NamedRateLimit{}},
			`{"rate_limits":[],"remaining":null,"refill":null}`},
		{"set", keyward.OwnerUpdate{Metadata: json.RawMessage(`{}`), Refill: keyward.SetTo(keyward.Refill{Interval: keyward.RefillDaily, Amount: 1})},
			`{"metadata":{},"refill":{"interval":"daily","amount":1}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, js := roundTrip(t, api.NewUpdateOwnerBody(tc.p))
			if js != tc.json {
				t.Errorf("JSON %s, want %s", js, tc.json)
			}
			if got := b.Params(); !reflect.DeepEqual(got, tc.p) {
				t.Errorf("Params after a round trip: %+v, want %+v", got, tc.p)
			}
		})
	}
}

func TestOwnerAnswers(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	o := &keyward.Owner{Name: "a b/c é", KeyCount: 3, CreatedAt: at, UpdatedAt: at}
	v, js := roundTrip(t, api.NewOwnerView(o))
	want := `{"name":"a b/c é","metadata":{},"rate_limits":[],"remaining":null,"refill":null,"key_count":3,` +
		`"created_at":"2030-01-01T00:00:00Z","updated_at":"2030-01-01T00:00:00Z"}`
	if js != want {
		t.Errorf("JSON\n%s\nwant\n%s", js, want)
	}
	if v.Name != o.Name || v.KeyCount != 3 {
		t.Errorf("after a round trip: %+v", v)
	}
	page, _ := roundTrip(t, api.NewOwnerPageBody(keyward.OwnerPage{Items: []*keyward.Owner{o}, NextCursor: "c"}))
	if got := api.OwnerPage(page); len(got.Items) != 1 || got.Items[0].Name != o.Name || got.NextCursor != "c" {
		t.Errorf("Page after a round trip: %+v", got)
	}
	if _, js = roundTrip(t, api.NewOwnerPageBody(keyward.OwnerPage{})); js != `{"items":[]}` {
		t.Errorf("empty page: %s", js)
	}
}

func TestRoleBodies(t *testing.T) {
	p := keyward.RoleParams{Description: "read only", Scopes: []string{"docs:read", "keyward:verify"}}
	b, js := roundTrip(t, api.NewRoleBody(p))
	if want := `{"description":"read only","scopes":["docs:read","keyward:verify"]}`; js != want {
		t.Errorf("JSON %s, want %s", js, want)
	}
	if got := b.Params(); !reflect.DeepEqual(got, p) {
		t.Errorf("Params after a round trip: %+v, want %+v", got, p)
	}
	if got := (*api.RoleBody)(nil).Params(); !reflect.DeepEqual(got, keyward.RoleParams{}) {
		t.Errorf("Params of no body: %+v", got)
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &keyward.Role{Name: "reader", CreatedAt: at, UpdatedAt: at}
	if _, js := roundTrip(t, api.NewRoleView(r)); js != `{"name":"reader","description":"","scopes":[],"created_at":"2030-01-01T00:00:00Z","updated_at":"2030-01-01T00:00:00Z"}` {
		t.Errorf("role JSON %s", js)
	}
	page, js := roundTrip(t, api.NewRolePageBody(keyward.RolePage{Items: []*keyward.Role{r}}))
	if got := api.RolePage(page); len(got.Items) != 1 || got.Items[0].Name != "reader" || got.NextCursor != "" || js == "" {
		t.Errorf("Page after a round trip: %+v", got)
	}
}

package server_test

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestOwnerCursorOfTheLongestName: the cursor after a name of 200
// four-byte characters is accepted on the next page.
func TestOwnerCursorOfTheLongestName(t *testing.T) {
	e := newEnv(t)
	call := func(method, target string) (int, string) {
		req := httptest.NewRequest(method, target, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	long := strings.Repeat("𝄞", 200)
	for _, name := range []string{long, long[:len(long)-4] + "𝄟"} {
		if code, body := call("PUT", "/v1/owners/"+url.PathEscape(name)); code != 201 {
			t.Fatalf("PUT: %d %s", code, body)
		}
	}
	code, body := call("GET", "/v1/owners?limit=1")
	var page struct {
		Items      []struct{ Name string }
		NextCursor string `json:"next_cursor"`
	}
	json.Unmarshal([]byte(body), &page)
	if code != 200 || len(page.Items) != 1 || page.Items[0].Name != long || page.NextCursor == "" {
		t.Fatalf("first page: %d %.200s", code, body)
	}
	if code, body = call("GET", "/v1/owners?limit=1&cursor="+page.NextCursor); code != 200 || !strings.Contains(body, "𝄟") {
		t.Errorf("page after a cursor of %d characters: %d %.300s", len(page.NextCursor), code, body)
	}
}

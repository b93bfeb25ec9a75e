package apptest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/onus-project/onus/collector/app"
)

// get answers GET url's status with token.
func get(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestStart starts a collector with the defaults, reads with both tokens, stops it twice,
// and starts it again on the same data directory and address.
func TestStart(t *testing.T) {
	c := Start(t, app.Options{})
	if !strings.HasPrefix(c.URL(), "http://127.0.0.1:") || c.Options.DataDir == "" || c.Options.Registerer != c.Registry {
		t.Fatalf("defaults: URL %s, options %+v", c.URL(), c.Options)
	}
	for _, token := range []string{AdminToken, ReadToken} {
		if code := get(t, c.URL()+"/api/v1/hosts", token); code != http.StatusOK {
			t.Fatalf("hosts with %q: %d", token, code)
		}
	}
	if mfs, err := c.Registry.Gather(); err != nil || len(mfs) == 0 {
		t.Fatalf("the collector's metrics in its registry: %d families, %v", len(mfs), err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	again := Start(t, app.Options{DataDir: c.Options.DataDir, ListenAddress: c.Addr(), AdminToken: "another-admin-token-0123456789"})
	if again.Addr() != c.Addr() {
		t.Fatalf("restarted on %s, want %s", again.Addr(), c.Addr())
	}
	if code := get(t, again.URL()+"/api/v1/hosts", AdminToken); code != http.StatusUnauthorized {
		t.Fatalf("hosts with the default admin token after starting with another: %d", code)
	}
}

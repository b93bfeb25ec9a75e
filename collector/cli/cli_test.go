package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/collector/app/apptest"
	"github.com/onus-project/onus/collector/cli"
)

const token = "test-admin-token-0123456789"

// TestCommands runs the ownership commands against a real collector (embedded etcd, HTTP).
func TestCommands(t *testing.T) {
	c := apptest.Start(t, app.Options{AdminToken: token})

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	ownersFile := filepath.Join(dir, "owners.yaml")
	os.WriteFile(ownersFile, []byte("owners:\n  - {id: web}\nrules:\n  - {id: all-hosts, kind: host, match: {all: true}, owner: web}\n"), 0o644)
	badFile := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badFile, []byte("owners:\n  - {id: web}\nrules:\n  - {id: r, kind: host, match: {all: true}, owner: nobody}\n"), 0o644)
	common := []string{"--server", c.URL(), "--token-file", tokenFile}
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		n := len(args)
		if args[0] == "owners" {
			n = 2
		}
		full := append(append(append([]string{}, args[:n]...), common...), args[n:]...)
		if code := cli.Run(full, &out, &errOut); code != want {
			t.Fatalf("%q: exit %d, want %d; stderr: %s", args, code, want, errOut.String())
		}
		return out.String() + errOut.String()
	}
	if out := run(0, "owners", "apply", "-f", ownersFile, "--dry-run"); !strings.Contains(out, "dry run: nothing written") || !strings.Contains(out, "+all-hosts") {
		t.Fatalf("dry run: %s", out)
	}
	if out := run(0, "owners", "get"); strings.Contains(out, "all-hosts") {
		t.Fatalf("registry after a dry run: %s", out)
	}
	if out := run(1, "owners", "apply", "-f", badFile); !strings.Contains(out, "bad.yaml:4:") || !strings.Contains(out, "nobody") {
		t.Fatalf("bad file: %s", out)
	}
	if out := run(0, "owners", "apply", "-f", ownersFile); !strings.Contains(out, "applied: registry revision") {
		t.Fatalf("apply: %s", out)
	}
	if out := run(0, "owners", "get"); !strings.Contains(out, `"all-hosts"`) {
		t.Fatalf("registry after apply: %s", out)
	}
	if out := run(0, "coverage"); !strings.Contains(out, "host") || !strings.Contains(out, "100.0%") {
		t.Fatalf("coverage: %s", out)
	}
	if out := run(1, "why", "host:nope"); !strings.Contains(out, "404") {
		t.Fatalf("why an unknown host: %s", out)
	}
	run(2, "why")
	var errOut bytes.Buffer
	if code := cli.Run([]string{"coverage", "--server", c.URL(), "--token-file", filepath.Join(dir, "none")}, &errOut, &errOut); code != 2 {
		t.Fatalf("missing token file: exit %d", code)
	}
}

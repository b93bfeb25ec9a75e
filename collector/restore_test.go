package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/collector/app"
	"github.com/onus-project/onus/collector/app/apptest"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

const (
	testSecret = "restore-test-enroll-secret-0123"
	testAdmin  = "restore-test-admin-token-0123456"
	testRead   = "restore-test-read-token-01234567"
)

// startCollector runs a collector with an embedded etcd in dataDir and the test's secrets
// until the test ends or it is stopped.
func startCollector(t *testing.T, dataDir string) *apptest.Collector {
	t.Helper()
	return apptest.Start(t, app.Options{DataDir: dataDir, EnrollSecret: testSecret, AdminToken: testAdmin, ReadToken: testRead})
}

// request sends a request and returns the status and body.
func request(t *testing.T, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// enrollAndReport enrolls the host of the debian12 golden inventory and sends its full
// report; it returns the inventory and the host's credential.
func enrollAndReport(t *testing.T, url string) (*model.Inventory, string) {
	t.Helper()
	inv := fixture.Golden(t, "debian12")
	body, err := protocol.Marshal(protocol.EnrollRequest{EnrollSecret: testSecret, HostID: inv.Host.ID, Hostname: inv.Host.Hostname})
	if err != nil {
		t.Fatal(err)
	}
	code, out := request(t, "POST", url+protocol.PathEnroll, "", body)
	var er protocol.EnrollResponse
	if code != 200 || json.Unmarshal(out, &er) != nil {
		t.Fatalf("enroll: %d %s", code, out)
	}
	st, capa := protocol.FromInventory(inv)
	rep := protocol.Report{HostID: inv.Host.ID, Seq: 1, Kind: protocol.KindFull, SentAt: time.Now().UTC(), Hash: protocol.Hash(&st), State: &st, Capacity: capa}
	if body, err = protocol.Marshal(&rep); err != nil {
		t.Fatal(err)
	}
	if code, out := request(t, "POST", url+protocol.PathReport, er.Credential, body); code != 200 {
		t.Fatalf("report: %d %s", code, out)
	}
	return inv, er.Credential
}

// heartbeat sends a heartbeat with cred and returns the status and body.
func heartbeat(t *testing.T, url, cred string, inv *model.Inventory, seq uint64) (int, []byte) {
	t.Helper()
	st, capa := protocol.FromInventory(inv)
	body, err := protocol.Marshal(&protocol.Report{HostID: inv.Host.ID, Seq: seq, Kind: protocol.KindHeartbeat, SentAt: time.Now().UTC(),
		Hash: protocol.Hash(&st), BaseHash: protocol.Hash(&st), Capacity: capa})
	if err != nil {
		t.Fatal(err)
	}
	return request(t, "POST", url+protocol.PathReport, cred, body)
}

// runCmd runs onus-collector with args and returns its exit code, standard output and error.
func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestBackupRestore backs up a collector's store through the CLI over HTTP, restores it into
// a fresh data directory and starts a collector there: host, packages, registry and the
// agent's credential are all back. Broken snapshots and busy or non-empty directories are
// refused.
func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	adminFile, readFile := write("admin", testAdmin+"\n"), write("read", testRead+"\n")
	ownersFile := write("owners.yaml", "owners:\n  - {id: web, name: Web team}\nrules:\n  - {id: all-hosts, kind: host, match: {all: true}, owner: web}\n"+
		"  - {id: libs, kind: software, match: {source: deb, name: \"lib*\"}, owner: web}\n")

	first := filepath.Join(dir, "first")
	col := startCollector(t, first)
	url := col.URL()
	inv, cred := enrollAndReport(t, url)
	if code, _, stderr := runCmd("owners", "apply", "--server", url, "--token-file", adminFile, "-f", ownersFile); code != 0 {
		t.Fatalf("owners apply: %s", stderr)
	}
	_, wantRegistry := request(t, "GET", url+"/api/v1/owners", testAdmin, nil)
	_, wantCoverage := request(t, "GET", url+"/api/v1/coverage", testAdmin, nil)

	snap := filepath.Join(dir, "backups", "onus.db")
	if err := os.MkdirAll(filepath.Dir(snap), 0o700); err != nil {
		t.Fatal(err)
	}
	// The read-only token and an agent's credential may not take a snapshot.
	code, _, stderr := runCmd("backup", "--server", url, "--token-file", readFile, "-o", snap)
	if code != 1 || !strings.Contains(stderr, "403") {
		t.Fatalf("backup with the read-only token: exit %d, %s", code, stderr)
	}
	if code, body := request(t, "GET", url+"/api/v1/admin/snapshot", cred, nil); code != 401 {
		t.Fatalf("snapshot with an agent credential: %d %s", code, body)
	}
	if _, err := os.Stat(snap); err == nil {
		t.Fatal("a refused backup left a file")
	}
	code, stdout, stderr := runCmd("backup", "--server", url, "--token-file", adminFile, "-o", snap)
	if code != 0 {
		t.Fatalf("backup: exit %d, %s", code, stderr)
	}
	t.Log(strings.TrimSpace(stdout))
	if !strings.Contains(stdout, "revision ") || !strings.Contains(stdout, "verified") {
		t.Fatalf("backup output: %s", stdout)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "backups", ".*part")); len(left) > 0 {
		t.Fatalf("temporary files left: %q", left)
	}
	col.Stop()

	// Broken snapshots are refused, and leave no data directory behind.
	good, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)/2] ^= 0x5a
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"truncated": {good[:len(good)/2], "truncated"},
		"corrupted": {corrupt, "SHA-256 mismatch"},
		"empty":     {nil, "not a database"},
	} {
		bad := write(name+".db", string(tc.data))
		target := filepath.Join(dir, "restored-"+name)
		code, _, stderr := runCmd("restore", "--snapshot", bad, "--data-dir", target)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s snapshot: exit %d, %s", name, code, stderr)
		}
		if _, err := os.Stat(target); err == nil {
			t.Errorf("%s snapshot: %s created", name, target)
		}
	}

	second := filepath.Join(dir, "second")
	code, stdout, stderr = runCmd("restore", "--snapshot", snap, "--data-dir", second)
	if code != 0 {
		t.Fatalf("restore: exit %d, %s", code, stderr)
	}
	t.Log(strings.TrimSpace(stdout))
	col2 := startCollector(t, second)
	url2 := col2.URL()
	code, body := request(t, "GET", url2+"/api/v1/hosts/"+inv.Host.ID, testAdmin, nil)
	if code != 200 {
		t.Fatalf("restored host: %d %s", code, body)
	}
	var d struct {
		Hostname string `json:"hostname"`
		Software []struct {
			Title string `json:"title"`
		} `json:"software"`
		Ownership struct {
			Owner string `json:"owner"`
		} `json:"ownership"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Hostname != inv.Host.Hostname || len(d.Software) != len(inv.Software) || d.Ownership.Owner != "web" {
		t.Fatalf("restored host: %s with %d packages owned by %q, want %s with %d owned by web", d.Hostname, len(d.Software), d.Ownership.Owner,
			inv.Host.Hostname, len(inv.Software))
	}
	if _, reg := request(t, "GET", url2+"/api/v1/owners", testAdmin, nil); !bytes.Equal(reg, wantRegistry) {
		t.Fatalf("restored registry:\n%s\nwant\n%s", reg, wantRegistry)
	}
	if _, cov := request(t, "GET", url2+"/api/v1/coverage", testAdmin, nil); !bytes.Equal(cov, wantCoverage) {
		t.Fatalf("restored coverage:\n%s\nwant\n%s", cov, wantCoverage)
	}
	// The agent's credential survived: it reports on as before.
	if code, body := heartbeat(t, url2, cred, inv, 2); code != 200 {
		t.Fatalf("heartbeat after restore: %d %s", code, body)
	}

	// A data directory in use, or not empty, is refused; --force-replace moves it aside.
	code, _, stderr = runCmd("restore", "--snapshot", snap, "--data-dir", second, "--force-replace")
	if code != 1 || !strings.Contains(stderr, "in use") {
		t.Fatalf("restore over a running collector: exit %d, %s", code, stderr)
	}
	col2.Stop()
	code, _, stderr = runCmd("restore", "--snapshot", snap, "--data-dir", first)
	if code != 1 || !strings.Contains(stderr, "not empty") || !strings.Contains(stderr, "--force-replace") {
		t.Fatalf("restore into a non-empty dir: exit %d, %s", code, stderr)
	}
	code, stdout, stderr = runCmd("restore", "--snapshot", snap, "--data-dir", first, "--force-replace")
	if code != 0 {
		t.Fatalf("restore --force-replace: exit %d, %s", code, stderr)
	}
	aside, _ := filepath.Glob(first + ".replaced-*")
	if len(aside) != 1 || !strings.Contains(stdout, aside[0]) {
		t.Fatalf("old data dir moved to %q; output %s", aside, stdout)
	}
	if _, err := os.Stat(filepath.Join(aside[0], "etcd", "member", "wal")); err != nil {
		t.Fatalf("the old data dir was not kept whole: %v", err)
	}
	url3 := startCollector(t, first).URL()
	if code, body := request(t, "GET", url3+"/api/v1/hosts/"+inv.Host.ID, testAdmin, nil); code != 200 {
		t.Fatalf("host after --force-replace: %d %s", code, body)
	}
}

func TestRestoreUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--snapshot", "x"}, {"--data-dir", "x"}, {"--snapshot", "x", "--data-dir", "y", "extra"}} {
		if code, _, stderr := runCmd(append([]string{"restore"}, args...)...); code != 2 || stderr == "" {
			t.Errorf("restore %q: exit %d, %q", args, code, stderr)
		}
	}
}

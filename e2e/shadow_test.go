package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

// TestShadowITShowsUp copies a binary into /usr/local/bin of a host the way someone does by
// hand, outside any package manager, and expects the collector to show it within seconds
// as software with its owner account, an install event, and, once owners.yaml lists that
// account among a team's users, owned by that team through an inheriting rule.
func TestShadowITShowsUp(t *testing.T) {
	root := fixture.CopyRoot(t, fixture.Root(t, "debian12"))
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	col := startCollector(t, t.TempDir(), "")
	startAgent(t, root, t.TempDir(), col.URL())
	type detail struct {
		Software []struct {
			Title       string `json:"title"`
			Installed   bool   `json:"installed"`
			User        string `json:"user"`
			InstalledBy string `json:"installed_by"`
			Location    string `json:"location"`
			Digest      string `json:"digest"`
		} `json:"software"`
		Events []protocol.Event `json:"events"`
	}
	waitHost(t, col.URL(), hostID, 20*time.Second, "first report", func(d *detail) bool { return len(d.Software) > 0 })

	start := time.Now()
	bin := filepath.Join(root, "usr/local/bin/terraform")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho terraform v1.9.0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(bin, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	const title = "file:/usr/local/bin/terraform"
	d := waitHost(t, col.URL(), hostID, 10*time.Second, "the dropped binary", func(d *detail) bool {
		for _, s := range d.Software {
			if s.Title == title {
				return true
			}
		}
		return false
	})
	t.Logf("a binary copied into /usr/local/bin visible in the collector after %s", time.Since(start).Round(time.Millisecond))
	for _, s := range d.Software {
		if s.Title == title && (!s.Installed || s.User != "alice" || s.InstalledBy != "alice" || s.Location != "/usr/local/bin/terraform" || len(s.Digest) != len("sha256:")+64) {
			t.Errorf("the binary: %+v", s)
		}
	}
	var event *protocol.Event
	for i := range d.Events {
		if d.Events[i].Source == "file" && d.Events[i].Name == "/usr/local/bin/terraform" {
			event = &d.Events[i]
		}
	}
	if event == nil || event.Type != protocol.EventInstalled || event.InstalledBy != "alice" {
		t.Errorf("install event %+v in %+v", event, d.Events)
	}

	owners := []byte(`owners:
  - {id: infra, users: [alice]}
rules:
  - {id: by-installer, kind: software, match: {source: file}, inherit: true}
`)
	if code, body := call(t, http.MethodPost, col.URL()+"/api/v1/ownership/apply", owners, "application/yaml"); code != http.StatusOK {
		t.Fatalf("apply: %d %s", code, body)
	}
	code, body := call(t, http.MethodGet, col.URL()+"/api/v1/why?asset=software:"+title, nil, "")
	var why struct {
		Owner      string `json:"owner"`
		Provenance struct {
			Type   string `json:"type"`
			Detail string `json:"detail"`
		} `json:"provenance"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &why) != nil || why.Owner != "infra" || why.Provenance.Type != "inherited" {
		t.Errorf("why %s: %d %s", title, code, body)
	}
}

// call makes an admin request and returns the status and body.
func call(t *testing.T, method, url string, body []byte, contentType string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

package container

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/internal/model"
)

// Engine API answers as Docker 26 gives them (trimmed of the fields the source does not read
// only where they are long: Mounts, NetworkSettings, HostConfig).
const (
	apiContainersJSON = `[
 {"Id":"8dfafdbc3a40c0bd8b1a0f5c2ef9de5e4a2d3fa4f8b1b8c4d1a6e7f9f0e1d2c3","Names":["/web"],"Image":"nginx:1.25","ImageID":"sha256:251ad31786bae2bdf8f9435a21b808b3ddba91ac4bf8d995c416368ed5881c7a","Command":"/docker-entrypoint.sh nginx -g 'daemon off;'","Created":1714557600,"Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}],"Labels":{"com.docker.compose.project":"shop","com.docker.compose.service":"web","org.opencontainers.image.description":"Web\u0007 front"},"State":"running","Status":"Up 2 hours","HostConfig":{"NetworkMode":"bridge"},"NetworkSettings":{"Networks":{}},"Mounts":[]},
 {"Id":"1f0e","Names":["/nightly-job"],"Image":"registry.example.com:5000/team/job:2024.06","ImageID":"sha256:5e8c9902207afaeb7120430c585a445f21e92932081d64bc99f80e4925bcb002","Command":"run","Created":1714611600,"Ports":[],"Labels":{},"State":"exited","Status":"Exited (137) 3 days ago","HostConfig":{"NetworkMode":"bridge"}},
 {"Id":"2a2a","Names":["/k8s_POD_shop-0_shop_1_0"],"Image":"registry.k8s.io/pause:3.9","Labels":{"io.kubernetes.docker.type":"podsandbox"},"State":"running","Status":"Up 5 days"},
 {"Id":"3b3b","Names":["/paused-one"],"Image":"busybox","Labels":null,"State":"paused","Status":"Up 1 hour (Paused)"},
 {"Id":"4c4c","Names":[],"Image":"busybox","State":"created","Status":"Created"}
]`
	apiImagesJSON = `[
 {"Containers":-1,"Created":1712752496,"Id":"sha256:251ad31786bae2bdf8f9435a21b808b3ddba91ac4bf8d995c416368ed5881c7a","Labels":{"maintainer":"NGINX Docker Maintainers <docker-maint@nginx.com>","org.opencontainers.image.vendor":"NGINX Inc."},"ParentId":"","RepoDigests":["nginx@sha256:0c86dddac19f2ce4fd716ac58c0fd87bf69bfd4edabfd6971fb885bafd12a00b"],"RepoTags":["nginx:1.25","nginx:latest"],"SharedSize":-1,"Size":187694648},
 {"Containers":-1,"Created":1717200000,"Id":"sha256:7c9bbe5ec9b3fb774e8fa0f54247e93c34ddf8e5d16fe3073420de0ae81a262d","Labels":null,"ParentId":"","RepoDigests":["quay.io/acme/tool@sha256:1111111111111111111111111111111111111111111111111111111111111111"],"RepoTags":[],"SharedSize":-1,"Size":1000},
 {"Containers":-1,"Created":1717200000,"Id":"sha256:9999999999999999999999999999999999999999999999999999999999999999","Labels":null,"RepoDigests":[],"RepoTags":null,"Size":10},
 {"Id":"not-an-id","RepoTags":["x:1"]}
]`
)

// serveAPI serves handler as the Docker Engine API on <root>/var/run/docker.sock, a real
// HTTP server on a real unix socket, stopped when the test ends.
func serveAPI(t *testing.T, root string, handler http.Handler) {
	t.Helper()
	sock := filepath.Join(root, "var/run/docker.sock")
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

func engineAPI(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.41/containers/json", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("all") != "1" {
			t.Errorf("containers listed without all=1: %s", r.URL)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(apiContainersJSON))
	})
	mux.HandleFunc("GET /v1.41/images/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(apiImagesJSON))
	})
	return mux
}

func writeFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDockerAPI(t *testing.T) {
	root := shortTempDir(t)
	serveAPI(t, root, engineAPI(t))
	// The list carries no user: it is read from the container's configuration.
	writeFile(t, filepath.Join(root, "var/lib/docker/containers/8dfafdbc3a40c0bd8b1a0f5c2ef9de5e4a2d3fa4f8b1b8c4d1a6e7f9f0e1d2c3/config.v2.json"),
		`{"Name":"/web","Config":{"User":"101","Image":"nginx:1.25"}}`)
	res := collect(t, root)
	accepted(t, res)
	svcs := map[string]model.Service{}
	for _, s := range res.Services {
		svcs[s.Name] = s
	}
	if len(svcs) != 3 {
		t.Errorf("services %+v, want web, nightly-job, paused-one", res.Services)
	}
	web := svcs["web"]
	if web.Manager != "docker" || web.ActiveState != "running" || web.SubState != "running" || web.User != "101" ||
		web.Image != "docker.io/library/nginx:1.25" || web.Labels["com.docker.compose.project"] != "shop" || web.Description != `Web\x07 front` {
		t.Errorf("web = %+v", web)
	}
	if j := svcs["nightly-job"]; j.ActiveState != "exited" || j.SubState != "exited (137)" || j.User != "" {
		t.Errorf("nightly-job = %+v", j)
	}
	if p := svcs["paused-one"]; p.ActiveState != "paused" || p.Image != "docker.io/library/busybox" {
		t.Errorf("paused-one = %+v", p)
	}
	var got []string
	for _, p := range res.Software {
		got = append(got, p.Name+" "+p.Version+" "+p.Digest[:19]+" "+p.InstallTime.Format(time.RFC3339)+" "+p.Vendor)
	}
	want := []string{
		"docker.io/library/nginx 1.25 sha256:251ad31786ba 2024-04-10T12:34:56Z NGINX Inc.",
		"docker.io/library/nginx latest sha256:251ad31786ba 2024-04-10T12:34:56Z NGINX Inc.",
		"quay.io/acme/tool 7c9bbe5ec9b3 sha256:7c9bbe5ec9b3 2024-06-01T00:00:00Z ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("software:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The container without a name and the image with a bad ID.
	if res.Skipped != 2 {
		t.Errorf("skipped %d, want 2", res.Skipped)
	}
}

// shortTempDir is a temporary directory short enough for a unix socket path under it.
func shortTempDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "ctr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// TestDockerAPIHangs: a daemon that accepts and never answers costs the timeout, then the
// data root is read instead.
func TestDockerAPIHangs(t *testing.T) {
	root := shortTempDir(t)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	serveAPI(t, root, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	writeFile(t, filepath.Join(root, "var/lib/docker/containers/aa/config.v2.json"),
		`{"Name":"/offline","State":{"Running":true},"Config":{"Image":"alpine"}}`)
	start := time.Now()
	res, err := New(Options{Root: hostfs.Root(root), APITimeout: 200 * time.Millisecond}).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v with a 200ms timeout", d)
	}
	if len(res.Services) != 1 || res.Services[0].Name != "offline" || res.Services[0].ActiveState != "running" {
		t.Errorf("services %+v, want the data root's", res.Services)
	}
}

// TestDockerAPITooLarge: an answer over the size cap is refused, and the data root read.
func TestDockerAPITooLarge(t *testing.T) {
	root := shortTempDir(t)
	serveAPI(t, root, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("["))
		chunk := []byte(strings.Repeat(`{"Names":["/x"]},`, 4096))
		for n := 0; n <= maxResponse; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	writeFile(t, filepath.Join(root, "var/lib/docker/containers/aa/config.v2.json"), `{"Name":"/offline","Config":{"Image":"alpine"}}`)
	res := collect(t, root)
	if len(res.Services) != 1 || res.Services[0].Name != "offline" {
		t.Errorf("services %d, want the data root's one", len(res.Services))
	}
}

// TestDockerAPIError: an error status falls back to the data root too.
func TestDockerAPIError(t *testing.T) {
	root := shortTempDir(t)
	serveAPI(t, root, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"client version 1.41 is too old"}`, http.StatusBadRequest)
	}))
	res, err := New(Options{Root: hostfs.Root(root)}).Collect(context.Background())
	// A socket but no data root: Docker is present and has nothing to report.
	if err != nil || len(res.Services) != 0 {
		t.Fatalf("err %v, services %+v", err, res.Services)
	}
}

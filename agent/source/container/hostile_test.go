//go:build unix

package container

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	bolt "go.etcd.io/bbolt"
)

// ctrID is the 64-hex-digit ID of the i-th generated container.
func ctrID(i int) string { return fmt.Sprintf("%064x", i+1) }

// dockerConfigJSON is a config.v2.json as moby writes it, of a running container.
func dockerConfigJSON(id, name, image string, labels map[string]string) []byte {
	b, err := json.Marshal(map[string]any{
		"ID": id, "Name": "/" + name, "Driver": "overlay2", "Created": "2024-05-01T10:00:00.123456789Z",
		"Path": "/docker-entrypoint.sh", "Args": []string{}, "Image": "sha256:" + strings.Repeat("c", 64),
		"State":  map[string]any{"Running": true, "Pid": 4242, "StartedAt": "2024-05-01T10:00:01Z", "FinishedAt": "0001-01-01T00:00:00Z"},
		"Config": map[string]any{"Hostname": id[:min(12, len(id))], "User": "101", "Image": image, "Labels": labels, "Env": []string{"PATH=/usr/bin"}},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// manyDocker writes n containers in the Docker data root of root, several at a time: the
// time is that of creating the directories.
func manyDocker(t testing.TB, root string, n int) {
	t.Helper()
	mkdir(t, filepath.Join(root, defaultDockerRoot, "containers"))
	var wg sync.WaitGroup
	const workers = 16
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				id := ctrID(i)
				dir := filepath.Join(root, defaultDockerRoot, "containers", id)
				err := os.Mkdir(dir, 0o755)
				if err == nil {
					err = os.WriteFile(dir+"/config.v2.json", dockerConfigJSON(id, fmt.Sprintf("app-%05d", i), "nginx:1.25",
						map[string]string{"com.docker.compose.project": "shop", "com.docker.compose.service": "web"}), 0o644)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// bounded runs fn, failing t if it takes longer than d or allocates more than maxAlloc bytes.
func bounded(t *testing.T, d time.Duration, maxAlloc uint64, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%v, %d MiB allocated", time.Since(start).Round(time.Millisecond), alloc>>20)
	if alloc > maxAlloc {
		t.Errorf("allocated %d MiB, over %d", alloc>>20, maxAlloc>>20)
	}
}

// TestHostileManyDocker: 10,000 containers in the data root are read up to MaxContainers,
// the rest counted as skipped, in bounded time and memory.
func TestHostileManyDocker(t *testing.T) {
	root := t.TempDir()
	manyDocker(t, root, 2*MaxContainers)
	var svcs []model.Service
	var skipped int
	bounded(t, 30*time.Second, 512<<20, func() {
		res := collectOrFail(t, root)
		svcs, skipped = res.Services, res.Skipped
	})
	if len(svcs) != MaxContainers || skipped != MaxContainers {
		t.Errorf("%d services, %d skipped; want %d, %d", len(svcs), skipped, MaxContainers, MaxContainers)
	}
}

// collectOrFail collects root without asking an Engine API, reporting an error on t (from
// any goroutine).
func collectOrFail(t *testing.T, root string) (res source.Result) {
	res, err := New(Options{Root: hostfs.Root(root), APITimeout: -1}).Collect(t.Context())
	if err != nil {
		t.Error(err)
	}
	return res
}

// TestHostileManyEngineAPI: an Engine API listing 10,000 containers and 10,000 images.
func TestHostileManyEngineAPI(t *testing.T) {
	root := shortTempDir(t)
	const n = 2 * MaxContainers
	var cs, is strings.Builder
	cs.WriteString("[")
	is.WriteString("[")
	for i := range n {
		if i > 0 {
			cs.WriteString(",")
			is.WriteString(",")
		}
		fmt.Fprintf(&cs, `{"Id":"%s","Names":["/app-%05d"],"Image":"nginx:1.25","State":"exited","Status":"Exited (%d) 2 hours ago","Labels":{"com.docker.compose.project":"shop"}}`, ctrID(i), i, i%256)
		fmt.Fprintf(&is, `{"Id":"sha256:%s","RepoTags":["acme/app-%05d:1.0"],"Created":1712752496,"Labels":{"org.opencontainers.image.vendor":"Acme"}}`, ctrID(i), i)
	}
	cs.WriteString("]")
	is.WriteString("]")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.41/containers/json", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(cs.String())) })
	mux.HandleFunc("GET /v1.41/images/json", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(is.String())) })
	serveAPI(t, root, mux)
	var res source.Result
	bounded(t, 30*time.Second, 512<<20, func() {
		var err error
		if res, err = New(Options{Root: hostfs.Root(root)}).Collect(t.Context()); err != nil {
			t.Error(err)
		}
	})
	if len(res.Services) != MaxContainers || len(res.Software) != MaxImages || res.Skipped != n-MaxContainers+n-MaxImages {
		t.Errorf("%d services, %d packages, %d skipped", len(res.Services), len(res.Software), res.Skipped)
	}
	if s := res.Services[0]; s.SubState != "exited (0)" || s.Image != "docker.io/library/nginx:1.25" {
		t.Errorf("first service %+v", s)
	}
	accepted(t, res)
}

// TestHostileDockerFiles: a truncated, an empty, a sparse 100 MiB, a looping, an escaping,
// a FIFO, a directory and a mode 0 config.v2.json, and a sparse 100 MiB repositories.json,
// are skipped and counted, never followed, read whole or waited on; names and labels with
// control bytes and invalid UTF-8 arrive escaped; links in the containers directory are not
// containers.
func TestHostileDockerFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "var/lib/docker/containers")
	cfg := func(id string) string { return filepath.Join(dir, id, "config.v2.json") }
	put(t, root, "/var/lib/docker/containers/ok/config.v2.json", dockerConfigJSON("ok", "ok", "nginx", nil))
	put(t, root, "/var/lib/docker/containers/ctl/config.v2.json", dockerConfigJSON("ctl", "we\x1b[31mb\xff\xfe\x00", "A\x07/b\xff:1",
		map[string]string{"com.docker.compose.project": "sh\x00op\xc3", "bad\x07key": "x", "org.opencontainers.image.description": "d\u2028\xff"}))
	full := dockerConfigJSON("trunc", "trunc", "nginx", nil)
	put(t, root, "/var/lib/docker/containers/trunc/config.v2.json", full[:len(full)/2])
	put(t, root, "/var/lib/docker/containers/empty/config.v2.json", nil)
	put(t, root, "/var/lib/docker/containers/big/config.v2.json", full)
	if err := os.Truncate(cfg("big"), 100<<20); err != nil {
		t.Fatal(err)
	}
	put(t, root, defaultDockerRoot+"/image/overlay2/repositories.json", nil)
	if err := os.Truncate(filepath.Join(root, defaultDockerRoot, "image/overlay2/repositories.json"), 100<<20); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	put(t, outside, "/secret/config.v2.json", dockerConfigJSON("secret", "secret", "nginx", nil))
	for id, target := range map[string]string{
		"loop": cfg("loop"), "escape": filepath.Join(outside, "secret/config.v2.json"),
		"escape-rel": strings.Repeat("../", 20) + strings.TrimPrefix(outside, "/") + "/secret/config.v2.json"} {
		mkdir(t, filepath.Join(dir, id))
		symlink(t, target, cfg(id))
	}
	symlink(t, filepath.Join(outside, "secret"), filepath.Join(dir, "linked-out"))
	symlink(t, filepath.Join(dir, "self"), filepath.Join(dir, "self"))
	mkdir(t, filepath.Join(dir, "fifo"))
	if err := syscall.Mkfifo(cfg("fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	mkdir(t, cfg("dir"))
	put(t, root, "/var/lib/docker/containers/locked/config.v2.json", dockerConfigJSON("locked", "locked", "nginx", nil))
	if err := os.Chmod(cfg("locked"), 0); err != nil {
		t.Fatal(err)
	}
	var res source.Result
	bounded(t, 10*time.Second, 64<<20, func() { res = collectOrFail(t, root) })
	var names []string
	for _, s := range res.Services {
		names = append(names, s.Name)
	}
	// trunc, empty, big, loop, escape, escape-rel, fifo, dir, ctl's invalid label key, and
	// the 100 MiB repositories.json.
	want, wantSkipped := []string{"ok", "we\\x1b[31mb\ufffd\ufffd\\x00"}, 10
	if os.Geteuid() == 0 {
		want = []string{"locked", "ok", "we\\x1b[31mb\ufffd\ufffd\\x00"} // root reads a mode 0 file
	} else {
		wantSkipped++
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) || res.Skipped != wantSkipped {
		t.Errorf("services %q, %d skipped; want %q, %d", names, res.Skipped, want, wantSkipped)
	}
	for _, s := range res.Services {
		if strings.HasPrefix(s.Name, "we") && (s.Labels["com.docker.compose.project"] != "sh\\x00op\ufffd" || s.Image != "A\\x07/b\ufffd:1") {
			t.Errorf("service %+v", s)
		}
	}
	accepted(t, res)
}

func mkdir(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestHostilePodmanFiles: a corrupt images.json, a containers.json over the count cap, and
// an image configuration that is a FIFO.
func TestHostilePodmanFiles(t *testing.T) {
	root := t.TempDir()
	var cs strings.Builder
	cs.WriteString("[")
	for i := range 2 * MaxContainers {
		if i > 0 {
			cs.WriteString(",")
		}
		fmt.Fprintf(&cs, `{"id":"%s","names":["c%05d"],"metadata":"{\"image-name\":\"docker.io/library/alpine:3.20\"}"}`, ctrID(i), i)
	}
	cs.WriteString("]")
	put(t, root, podmanRoot+"/vfs-containers/containers.json", []byte(cs.String()))
	put(t, root, podmanRoot+"/vfs-images/images.json", []byte(`[{"id":"`+ctrID(0)+`","names":["alpine:3.20"]},{"id":"`+ctrID(1)+`","names":["x"]}]`))
	mkdir(t, filepath.Join(root, podmanRoot, "vfs-images", ctrID(0)))
	if err := syscall.Mkfifo(filepath.Join(root, podmanRoot, "vfs-images", ctrID(0), bigDataName("sha256:"+ctrID(0))), 0o644); err != nil {
		t.Fatal(err)
	}
	home := "/home/alice/.local/share/containers/storage"
	put(t, root, "/etc/passwd", []byte("alice:x:1000:1000::/home/alice:/bin/sh\n"))
	put(t, root, home+"/vfs-images/images.json", []byte(`[{"id":"`))
	var res source.Result
	bounded(t, 20*time.Second, 256<<20, func() { res = collectOrFail(t, root) })
	// The containers past the cap and alice's images.json.
	if len(res.Services) != MaxContainers || len(res.Software) != 2 || res.Skipped != MaxContainers+1 {
		t.Errorf("%d services, %d packages, %d skipped", len(res.Services), len(res.Software), res.Skipped)
	}
	accepted(t, res)
}

// makeBolt writes at p a bolt database filled by fill, then lets damage change its bytes.
func makeBolt(t *testing.T, p string, fill func(*bolt.Tx) error, damage func([]byte) []byte) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	db, err := bolt.Open(p, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fill); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, damage(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// firstBranch returns the offset of the first branch page of a bolt file of 4 KiB pages.
func firstBranch(t *testing.T, b []byte) int {
	for off := 2 * 4096; off+4096 <= len(b); off += 4096 {
		if binary.NativeEndian.Uint16(b[off+8:]) == boltBranch {
			return off
		}
	}
	t.Fatal("no branch page")
	return 0
}

// TestHostileBolt: libpod and containerd databases that are garbage, truncated, or whose
// pages refer to themselves or past the file fail in bounded time, never loop nor fault:
// libpod's containers then come from containers.json, and containerd's store is counted
// as skipped.
func TestHostileBolt(t *testing.T) {
	libpod := func(tx *bolt.Tx) error {
		for i := range 2000 {
			if err := putPath(tx, []byte(`{"name":"c`+fmt.Sprint(i)+`","rootfsImageName":"alpine"}`), "ctr", ctrID(i), "config"); err != nil {
				return err
			}
		}
		// A value over several pages.
		return putPath(tx, []byte(`{"name":"big","labels":{"a":"`+strings.Repeat("x", 20000)+`"}}`), "ctr", "big", "config")
	}
	containerd := func(tx *bolt.Tx) error {
		for i := range 2000 {
			if err := putPath(tx, []byte("docker.io/library/alpine:3.20"), "v1", "default", "containers", ctrID(i), "image"); err != nil {
				return err
			}
		}
		return nil
	}
	for name, damage := range map[string]func([]byte) []byte{
		"garbage": func(b []byte) []byte {
			for i := range b {
				b[i] = byte(i*7 + i>>8)
			}
			return b
		},
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"short":     func(b []byte) []byte { return b[:100] },
		"cycle": func(b []byte) []byte {
			off := firstBranch(t, b)
			copy(b[off+16+8:], b[off:off+8]) // its first child is itself
			return b
		},
		"past-the-end": func(b []byte) []byte {
			binary.NativeEndian.PutUint64(b[firstBranch(t, b)+16+8:], 1<<40)
			return b
		},
		"fine": func(b []byte) []byte { return b },
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			makeBolt(t, filepath.Join(root, podmanRoot, "libpod/bolt_state.db"), libpod, damage)
			put(t, root, podmanRoot+"/vfs-containers/containers.json", []byte(`[{"id":"a","names":["from-json"]}]`))
			makeBolt(t, filepath.Join(root, containerdRoots[0].root, metaDB), containerd, damage)
			var res source.Result
			bounded(t, 10*time.Second, 256<<20, func() { res = collectOrFail(t, root) })
			var podman, containerd int
			for _, s := range res.Services {
				switch s.Manager {
				case Podman:
					podman++
				case Containerd:
					containerd++
				}
			}
			if name == "fine" {
				if podman != 2001 || containerd != 2000 || res.Skipped != 0 {
					t.Errorf("%d podman, %d containerd services, %d skipped", podman, containerd, res.Skipped)
				}
				return
			}
			if podman != 1 || containerd != 0 || res.Services[0].Name != "from-json" || res.Skipped != 1 {
				t.Errorf("%d podman, %d containerd services, %d skipped", podman, containerd, res.Skipped)
			}
			accepted(t, res)
		})
	}
}

// TestHostileContainerdNames: a container ID or namespace that is a path does not find a
// task bundle elsewhere in the host, and names with control bytes arrive escaped.
func TestHostileContainerdNames(t *testing.T) {
	root := t.TempDir()
	mkdir(t, filepath.Join(root, "etc"))
	makeBolt(t, filepath.Join(root, containerdRoots[0].root, metaDB), func(tx *bolt.Tx) error {
		return cmpErr(putPath(tx, []byte("alpine"), "v1", "default", "containers", "../../../../../etc", "image"),
			putPath(tx, []byte("alpine"), "v1", "..", "containers", "x", "image"),
			putPath(tx, []byte("alpine\x00"), "v1", "n\x1bs", "containers", "i\xffd", "image"))
	}, func(b []byte) []byte { return b })
	mkdir(t, filepath.Join(root, containerdRoots[0].state, "io.containerd.runtime.v2.task/n\x1bs/i\xffd"))
	res := collectOrFail(t, root)
	var got []string
	for _, s := range res.Services {
		got = append(got, s.Name+" "+s.ActiveState+" "+s.Image)
	}
	want := []string{"../x created docker.io/library/alpine", "default/../../../../../etc created docker.io/library/alpine",
		"n\\x1bs/i\ufffdd running alpine\\x00"}
	if !slices.Equal(got, want) {
		t.Errorf("services %q, want %q", got, want)
	}
	accepted(t, res)
}

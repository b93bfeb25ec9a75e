// Command gen writes the Docker and containerd parts of the container source's fixture root
// (testdata/root, argument 1), in the formats those runtimes write: Docker's data root
// (containers/<id>/config.v2.json, image/overlay2/repositories.json,
// image/overlay2/imagedb/content/sha256/<id>) as moby persists it, and containerd's
// metadata database with bbolt in containerd's bucket layout (core/metadata/buckets.go:
// v1/<namespace>/images|containers/...), with content store blobs and a task bundle
// directory. The Podman part is made by the real podman in make.sh.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

var root string

func main() {
	root = os.Args[1]
	write("etc/docker/daemon.json", `{"data-root": "/srv/docker", "log-driver": "json-file"}`+"\n")
	docker("srv/docker")
	dockerRootless("home/alice/.local/share/docker")
	containerd()
}

func write(p, s string) {
	p = filepath.Join(root, p)
	must(os.MkdirAll(filepath.Dir(p), 0o755))
	must(os.WriteFile(p, []byte(s), 0o644))
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func js(v any) string {
	b, err := json.Marshal(v)
	must(err)
	return string(b)
}

func id(seed string) string {
	h := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(h[:])
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	must(err)
	return t
}

// imageConfig is an image configuration blob as docker and the OCI image spec write it.
func imageConfig(created string, labels map[string]string) string {
	return js(map[string]any{
		"architecture": "amd64", "os": "linux", "created": created,
		"config": map[string]any{"Env": []string{"PATH=/usr/local/bin:/usr/bin:/bin"}, "Labels": labels},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + id("layer")}},
	})
}

// dockerContainer is config.v2.json as moby's container.Container persists it.
func dockerContainer(cid, name, image string, running bool, exit int, started, finished string, user string, labels map[string]string) string {
	return js(map[string]any{
		"StreamConfig": map[string]any{},
		"State": map[string]any{"Running": running, "Paused": false, "Restarting": false, "OOMKilled": exit == 137,
			"RemovalInProgress": false, "Dead": false, "Pid": map[bool]int{true: 4242}[running], "ExitCode": exit, "Error": "",
			"StartedAt": started, "FinishedAt": finished, "Health": nil},
		"ID": cid, "Created": "2024-05-01T10:00:00.123456789Z", "Managed": false, "Path": "/docker-entrypoint.sh",
		"Args":   []string{},
		"Config": map[string]any{"Hostname": cid[:12], "User": user, "Image": image, "Labels": labels, "Env": []string{"PATH=/usr/bin"}},
		"Image":  "sha256:" + id(image), "Name": "/" + name, "Driver": "overlay2", "RestartCount": 0,
	})
}

func docker(dr string) {
	const zero = "0001-01-01T00:00:00Z"
	nginx := id("nginx:1.25")
	job := id("job")
	tool := id("tool")
	ctrs := []struct {
		name, image             string
		running                 bool
		exit                    int
		started, finished, user string
		labels                  map[string]string
	}{
		{"web", "nginx:1.25", true, 0, "2024-05-01T10:00:01Z", zero, "101", map[string]string{
			"com.docker.compose.project": "shop", "com.docker.compose.service": "web",
			"org.opencontainers.image.vendor": "NGINX Inc.", "maintainer": "NGINX Docker Maintainers"}},
		{"nightly-job", "registry.example.com:5000/team/job:2024.06", false, 137, "2024-05-02T01:00:00Z", "2024-05-02T01:10:00Z", "", map[string]string{
			"io.kubernetes.pod.namespace": "batch", "bad key with spaces": "x", "org.opencontainers.image.title": "Nightly\x1b[31m job"}},
		{"k8s_POD_shop-0", "registry.k8s.io/pause:3.9", true, 0, "2024-05-01T09:00:00Z", zero, "", map[string]string{
			"io.kubernetes.docker.type": "podsandbox", "io.kubernetes.pod.name": "shop-0"}},
		{"scratchpad", "sha256:" + tool, false, 0, zero, zero, "nobody", nil},
	}
	for _, c := range ctrs {
		cid := id("ctr/" + c.name)
		write(dr+"/containers/"+cid+"/config.v2.json", dockerContainer(cid, c.name, c.image, c.running, c.exit, c.started, c.finished, c.user, c.labels))
		write(dr+"/containers/"+cid+"/hostconfig.json", `{"NetworkMode":"bridge","RestartPolicy":{"Name":"no"}}`)
	}
	write(dr+"/image/overlay2/repositories.json", js(map[string]any{"Repositories": map[string]any{
		"nginx": map[string]string{"nginx:1.25": "sha256:" + nginx, "nginx:latest": "sha256:" + nginx,
			"nginx@sha256:" + id("nginx manifest"): "sha256:" + nginx},
		"registry.example.com:5000/team/job": map[string]string{"registry.example.com:5000/team/job:2024.06": "sha256:" + job},
		"quay.io/acme/tool":                  map[string]string{"quay.io/acme/tool@sha256:" + id("tool manifest"): "sha256:" + tool},
	}}))
	sha := dr + "/image/overlay2/imagedb/content/sha256/"
	write(sha+nginx, imageConfig("2024-04-10T12:34:56.789Z", map[string]string{
		"maintainer": "NGINX Docker Maintainers <docker-maint@nginx.com>", "org.opencontainers.image.vendor": "NGINX Inc.",
		"org.opencontainers.image.description": "Official build of Nginx.", "org.opencontainers.image.source": "https://github.com/nginxinc/docker-nginx",
		"org.opencontainers.image.version": "1.25.5"}))
	write(sha+job, `{"architecture":"amd64","created":"2024-06-01T00:00:00Z","config":{"Labels":null}}`)
	// The tool image's configuration is missing: the image is still listed, without it.
	write(dr+"/image/overlay2/imagedb/metadata/sha256/"+nginx+"/lastUpdated", "2024-05-01T09:59:00.000000000Z")
}

func dockerRootless(dr string) {
	pg := id("postgres:16")
	cid := id("ctr/alice-db")
	write(dr+"/containers/"+cid+"/config.v2.json", dockerContainer(cid, "db", "postgres:16", true, 0, "2024-05-03T08:00:00Z", "0001-01-01T00:00:00Z", "postgres", map[string]string{"com.docker.compose.project": "alice-dev"}))
	write(dr+"/image/overlay2/repositories.json", js(map[string]any{"Repositories": map[string]any{
		"postgres": map[string]string{"postgres:16": "sha256:" + pg}}}))
	write(dr+"/image/overlay2/imagedb/content/sha256/"+pg, imageConfig("2024-04-20T00:00:00Z", nil))
}

// blob writes a content store blob and returns its digest.
func blob(cr, s string) string {
	h := sha256.Sum256([]byte(s))
	d := hex.EncodeToString(h[:])
	write(cr+"/io.containerd.content.v1.content/blobs/sha256/"+d, s)
	return "sha256:" + d
}

// anySpec encodes an OCI runtime spec as containerd stores it: a google.protobuf.Any with
// type_url (field 1) and the spec's JSON as value (field 2).
func anySpec(spec string) []byte {
	typ := "types.containerd.io/opencontainers/runtime-spec/1/Spec"
	b := []byte{0x0a}
	b = appendVarint(b, uint64(len(typ)))
	b = append(b, typ...)
	b = append(b, 0x12)
	b = appendVarint(b, uint64(len(spec)))
	return append(b, spec...)
}

func appendVarint(b []byte, x uint64) []byte {
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

func containerd() {
	cr := "var/lib/containerd"
	cfg := blob(cr, imageConfig("2024-03-01T00:00:00Z", map[string]string{
		"org.opencontainers.image.source": "https://github.com/redis/docker-library-redis", "org.opencontainers.image.vendor": "Redis"}))
	man := func(arch string) string {
		return blob(cr, js(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": 100}, "layers": []any{}, "arch": arch}))
	}
	index := blob(cr, js(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{
		map[string]any{"digest": man("arm64"), "platform": map[string]string{"architecture": "arm64", "os": "linux"}},
		map[string]any{"digest": man("amd64"), "platform": map[string]string{"architecture": "amd64", "os": "linux"}},
	}}))
	p := filepath.Join(root, cr, "io.containerd.metadata.v1.bolt/meta.db")
	must(os.MkdirAll(filepath.Dir(p), 0o755))
	os.Remove(p)
	db, err := bolt.Open(p, 0o644, nil)
	must(err)
	defer db.Close()
	created := ts("2024-05-05T05:05:05Z")
	must(db.Update(func(tx *bolt.Tx) error {
		v1, err := tx.CreateBucket([]byte("v1"))
		must(err)
		must(v1.Put([]byte("version"), appendVarint(nil, 3)))
		img := func(ns, name, digest, mt string, labels map[string]string) {
			b, err := bucket(v1, ns, "images", name)
			must(err)
			ct, _ := created.MarshalBinary()
			must(b.Put([]byte("createdat"), ct))
			must(b.Put([]byte("updatedat"), ct))
			t, err := b.CreateBucket([]byte("target"))
			must(err)
			must(t.Put([]byte("digest"), []byte(digest)))
			must(t.Put([]byte("mediatype"), []byte(mt)))
			must(t.Put([]byte("size"), appendVarint(nil, 1234)))
			putLabels(b, labels)
		}
		ctr := func(ns, cid, image, spec string, labels map[string]string) {
			b, err := bucket(v1, ns, "containers", cid)
			must(err)
			ct, _ := created.MarshalBinary()
			must(b.Put([]byte("createdat"), ct))
			must(b.Put([]byte("image"), []byte(image)))
			must(b.Put([]byte("snapshotter"), []byte("overlayfs")))
			must(b.Put([]byte("snapshotKey"), []byte(cid)))
			if spec != "" {
				must(b.Put([]byte("spec"), anySpec(spec)))
			}
			r, err := b.CreateBucket([]byte("runtime"))
			must(err)
			must(r.Put([]byte("name"), []byte("io.containerd.runc.v2")))
			putLabels(b, labels)
		}
		const idx = "application/vnd.oci.image.index.v1+json"
		img("k8s.io", "docker.io/library/redis:7.2", index, idx, map[string]string{"io.cri-containerd.image": "managed"})
		img("k8s.io", "docker.io/library/redis@"+index, index, idx, map[string]string{"io.cri-containerd.image": "managed"})
		img("k8s.io", cfg, index, idx, map[string]string{"io.cri-containerd.image": "managed"})
		img("k8s.io", "registry.k8s.io/pause:3.9", "sha256:"+id("pause index"), idx, nil)
		img("default", "ghcr.io/acme/agent:0.9", "sha256:"+id("agent manifest"), "application/vnd.oci.image.manifest.v1+json", nil)
		img("moby", "docker.io/library/nginx:1.25", "sha256:"+id("nginx index"), idx, nil)
		redis := id("k8s redis")
		ctr("k8s.io", redis, "docker.io/library/redis:7.2", `{"ociVersion":"1.1.0","process":{"user":{"uid":999,"gid":999},"args":["redis-server"]}}`, map[string]string{
			"io.cri-containerd.kind": "container", "io.kubernetes.container.name": "redis",
			"io.kubernetes.pod.name": "cache-0", "io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.uid": "0c4a7b1e-0000-4000-8000-000000000001"})
		ctr("k8s.io", id("k8s sandbox"), "registry.k8s.io/pause:3.9", "", map[string]string{"io.cri-containerd.kind": "sandbox", "io.kubernetes.pod.name": "cache-0"})
		ctr("default", "agent", "ghcr.io/acme/agent:0.9", `{"ociVersion":"1.1.0","process":{"user":{"uid":0,"gid":0}}}`, nil)
		ctr("moby", id("ctr/web"), "nginx:1.25", "", nil)
		must(os.MkdirAll(filepath.Join(root, "run/containerd/io.containerd.runtime.v2.task/k8s.io", redis), 0o755))
		write("run/containerd/io.containerd.runtime.v2.task/k8s.io/"+redis+"/config.json", `{"ociVersion":"1.1.0"}`)
		return nil
	}))
	fmt.Println("wrote", p)
}

func bucket(b *bolt.Bucket, names ...string) (*bolt.Bucket, error) {
	var err error
	for _, n := range names {
		if b, err = b.CreateBucketIfNotExists([]byte(n)); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func putLabels(b *bolt.Bucket, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	l, err := b.CreateBucket([]byte("labels"))
	must(err)
	for k, v := range labels {
		must(l.Put([]byte(k), []byte(v)))
	}
}

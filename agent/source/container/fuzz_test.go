package container

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/protocol"
	bolt "go.etcd.io/bbolt"
)

// The fixture's files, seeds of the fuzz tests.
const (
	fxDocker     = fixtureRoot + "/srv/docker"
	fxPodman     = fixtureRoot + "/var/lib/containers/storage"
	fxAlice      = fixtureRoot + "/home/alice/.local/share/containers/storage"
	fxContainerd = fixtureRoot + "/var/lib/containerd/" + metaDB
)

// seeds adds the fixture files matching each pattern to f, one input each.
func seeds(f *testing.F, patterns ...string) [][]byte {
	f.Helper()
	var out [][]byte
	for _, pat := range patterns {
		ms, _ := filepath.Glob(pat)
		for _, m := range ms {
			b, err := os.ReadFile(m)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		f.Fatalf("no seed in %q", patterns)
	}
	return out
}

// checkStore fails t unless what st holds assembles into an inventory the collector takes.
func checkStore(t *testing.T, st *store) {
	t.Helper()
	var res source.Result
	res.Software, res.Services, res.Skipped = assemble([]*store{st})
	if res.Skipped < 0 {
		t.Fatalf("skipped %d", res.Skipped)
	}
	for _, p := range res.Software {
		if r, ok := parseRef(p.Name); !ok || r.repo != p.Name || r.tag != "" || r.digest != "" {
			t.Fatalf("package %q is not a normalized repository", p.Name)
		}
	}
	accepted(t, res)
}

// collectBounded collects root within d, failing t if it takes longer (a loop) or fails.
func collectBounded(t *testing.T, root string, d time.Duration) source.Result {
	t.Helper()
	type out struct {
		res source.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := New(Options{Root: hostfs.Root(root), APITimeout: -1}).Collect(context.Background())
		done <- out{res, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			t.Fatalf("collect: %v", o.err)
		}
		return o.res
	case <-time.After(d):
		t.Fatalf("collect still running after %v", d)
	}
	return source.Result{}
}

// put writes b at the path p under root, creating its directories.
func put(t testing.TB, root, p string, b []byte) {
	t.Helper()
	p = filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

const fuzzID = "5dc0415227dfaa961783d1f3002aa8521a3f0341a0ca485d453520ecd38a8cff"

func FuzzParseDockerConfig(f *testing.F) {
	for _, b := range seeds(f, fxDocker+"/containers/*/config.v2.json", fixtureRoot+"/home/alice/.local/share/docker/containers/*/config.v2.json") {
		f.Add(b)
	}
	f.Add([]byte(`{"Name":"/\u0007x\xff","State":{"Running":true,"Paused":true},"Config":{"Image":"A/b","Labels":{"k":"\x00"}}}`))
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := parseDockerConfig(b)
		if ok {
			if c.name == "" || !slices.Contains([]string{"running", "paused", "exited", "created"}, c.active) {
				t.Fatalf("container %+v", c)
			}
			checkStore(t, &store{manager: Docker, location: defaultDockerRoot, ctrs: []ctr{c}})
		}
		put(t, root, defaultDockerRoot+"/containers/"+fuzzID+"/config.v2.json", b)
		res := collectBounded(t, root, 10*time.Second)
		want := 0
		if ok && !sandbox(c.labels) {
			want = 1
		}
		if n := len(res.Services); n != want || !ok && res.Skipped != 1 {
			t.Fatalf("parsed %v, %d services, %d skipped", ok, n, res.Skipped)
		}
		accepted(t, res)
	})
}

func FuzzDockerImages(f *testing.F) {
	repos := seeds(f, fxDocker+"/image/overlay2/repositories.json")
	for i, cfg := range seeds(f, fxDocker+"/image/overlay2/imagedb/content/sha256/*") {
		f.Add(repos[0], cfg)
		if i == 0 {
			f.Add([]byte(`{"Repositories":{"x":{"x:1":"`+strings.Repeat("a", 64)+`","Y:2":"sha256:`+strings.Repeat("a", 64)+`"}}}`), cfg)
		}
	}
	// One root for the worker's inputs: an image configuration left by an earlier one is not
	// read, its ID not being in this one's repositories.json.
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, repos, cfg []byte) {
		refs, ok := parseRepositories(repos)
		if !ok && refs != nil {
			t.Fatal("references of a refused file")
		}
		if len(refs) > 64 {
			return // each ID is written: keep the fuzzed root small
		}
		put(t, root, defaultDockerRoot+"/image/overlay2/repositories.json", repos)
		for id, rs := range refs {
			if h, _ := imageID(id); h != id || !slices.IsSorted(rs) {
				t.Fatalf("image %q: %q", id, rs)
			}
			put(t, root, defaultDockerRoot+"/image/overlay2/imagedb/content/sha256/"+id[len("sha256:"):], cfg)
		}
		accepted(t, collectBounded(t, root, 10*time.Second))
	})
}

func FuzzEngineAPI(f *testing.F) {
	f.Add([]byte(apiContainersJSON), []byte(apiImagesJSON))
	f.Add([]byte(`[{"Id":"../../etc","Names":["/\xff\u0000"],"State":"exited","Status":"Exited (-1) now","Labels":{"":"x","a":"\u001b"}}]`),
		[]byte(`[{"Id":"`+strings.Repeat("f", 64)+`","RepoTags":["a:b","a:b","A:b","<none>:<none>"],"RepoDigests":["a@sha256:`+strings.Repeat("0", 64)+`"],"Created":-1}]`))
	f.Fuzz(func(t *testing.T, cs, is []byte) {
		// As apiGet decodes them: an answer that does not decode is no answer.
		var c []apiContainer
		var i []apiImage
		if json.Unmarshal(cs, &c) != nil || json.Unmarshal(is, &i) != nil {
			return
		}
		st := &store{manager: Docker, location: defaultDockerRoot}
		fromAPI(st, c, i)
		if len(st.ctrs) > len(c) || len(st.images) > len(i) || len(st.ctrs) > MaxContainers || len(st.images) > MaxImages {
			t.Fatalf("%d containers, %d images from %d, %d", len(st.ctrs), len(st.images), len(c), len(i))
		}
		checkStore(t, st)
	})
}

func FuzzPodman(f *testing.F) {
	cfgs := seeds(f, fxPodman+"/vfs-images/*/=c2hh*")
	for i, im := range seeds(f, fxPodman+"/vfs-images/images.json", fxAlice+"/vfs-images/images.json") {
		ctrs := seeds(f, fxPodman+"/vfs-containers/containers.json", fxAlice+"/vfs-containers/containers.json")
		f.Add(im, ctrs[i], cfgs[i%len(cfgs)])
	}
	f.Add([]byte(`[{"id":"`+strings.Repeat("a", 64)+`","names":["x","x"],"created":"0001-01-01T00:00:00Z"}]`),
		[]byte(`[{"id":"z","names":["\u0007"],"metadata":"{"},{"names":[""]},{"names":[]}]`), []byte(`{"created":"9999-12-31T23:59:59Z"}`))
	root := f.TempDir() // as in FuzzDockerImages
	f.Fuzz(func(t *testing.T, images, ctrs, cfg []byte) {
		is, ok := parseStorageImages(images)
		if len(is) > 64 || !ok && is != nil {
			return
		}
		cs, bad, ok := parseStorageContainers(ctrs)
		if bad < 0 || !ok && (cs != nil || bad != 0) {
			t.Fatalf("%d containers, %d bad of a refused file", len(cs), bad)
		}
		for _, c := range cs {
			if c.name == "" {
				t.Fatalf("container %+v", c)
			}
		}
		put(t, root, podmanRoot+"/vfs-images/images.json", images)
		put(t, root, podmanRoot+"/vfs-containers/containers.json", ctrs)
		for _, im := range is {
			if id, ok := imageID(im.ID); ok {
				put(t, root, podmanRoot+"/vfs-images/"+im.ID+"/"+bigDataName(id), cfg)
			}
		}
		accepted(t, collectBounded(t, root, 10*time.Second))
	})
}

func FuzzParseLibpod(f *testing.F) {
	f.Add([]byte(`{"name":"web","rootfsImageName":"docker.io/acme/web:1.2","user":"1000:1000","labels":{"a":"b"}}`), []byte(`{"state":6,"exitCode":137}`))
	f.Add([]byte(`{"name":"\u0000","RawImageName":"x","pause":true}`), []byte(`{"state":-1}`))
	f.Add([]byte(`{"name":"p","labels":{"bad key":"\xff"}}`), []byte(`{"state":99}`))
	f.Fuzz(func(t *testing.T, config, state []byte) {
		c, infra, ok := parseLibpod(config, state)
		if !ok && (infra || c.name != "") || ok && c.name == "" {
			t.Fatalf("%+v %v %v", c, infra, ok)
		}
		if ok {
			checkStore(t, &store{manager: Podman, location: podmanRoot, ctrs: []ctr{c}})
		}
	})
}

// smallBolt returns a bolt database of 1 KiB pages made by fill: a small seed for FuzzBolt.
func smallBolt(f *testing.F, fill func(*bolt.Tx) error) []byte {
	p := filepath.Join(f.TempDir(), "db")
	db, err := bolt.Open(p, 0o644, &bolt.Options{PageSize: 1024})
	if err != nil {
		f.Fatal(err)
	}
	if err := db.Update(fill); err != nil {
		f.Fatal(err)
	}
	if err := db.Close(); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// putPath creates the nested buckets of path in tx and puts the key and value (a bucket
// when v is nil) at its end.
func putPath(tx *bolt.Tx, v []byte, path ...string) error {
	b, err := tx.CreateBucketIfNotExists([]byte(path[0]))
	for _, p := range path[1 : len(path)-1] {
		if err != nil {
			return err
		}
		b, err = b.CreateBucketIfNotExists([]byte(p))
	}
	if err != nil {
		return err
	}
	if v == nil {
		_, err = b.CreateBucketIfNotExists([]byte(path[len(path)-1]))
		return err
	}
	return b.Put([]byte(path[len(path)-1]), v)
}

// FuzzBolt reads a fuzzed database as libpod's state and as containerd's metadata: it never
// panics and never loops, whatever the pages hold.
func FuzzBolt(f *testing.F) {
	for _, b := range seeds(f, fxPodman+"/libpod/bolt_state.db", fxContainerd) {
		f.Add(b)
	}
	f.Add(smallBolt(f, func(tx *bolt.Tx) error {
		return cmpErr(putPath(tx, []byte(`{"name":"web","rootfsImageName":"nginx"}`), "ctr", "aa", "config"),
			putPath(tx, []byte(`{"state":3}`), "ctr", "aa", "state"), putPath(tx, []byte("x"), "ctr", "bb"))
	}))
	created, _ := time.Unix(1700000000, 0).MarshalBinary()
	f.Add(smallBolt(f, func(tx *bolt.Tx) error {
		return cmpErr(putPath(tx, []byte{3}, "v1", "version"),
			putPath(tx, []byte("sha256:"+strings.Repeat("b", 64)), "v1", "default", "images", "nginx:1", "target", "digest"),
			putPath(tx, created, "v1", "default", "images", "nginx:1", "createdat"),
			putPath(tx, []byte("v"), "v1", "default", "images", "nginx:1", "labels", "k"),
			putPath(tx, []byte("nginx:1"), "v1", "default", "containers", "c1", "image"),
			putPath(tx, binary.AppendUvarint([]byte{0x12}, 2), "v1", "default", "containers", "c1", "spec"))
	}))
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		put(t, root, podmanRoot+"/libpod/bolt_state.db", b)
		put(t, root, podmanRoot+"/vfs-containers/containers.json", []byte(`[]`))
		put(t, root, containerdRoots[0].root+"/"+metaDB, b)
		accepted(t, collectBounded(t, root, 10*time.Second))
	})
}

func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

var userRe = regexp.MustCompile(`^([0-9]+:[0-9]+)?$`)

func FuzzSpecUser(f *testing.F) {
	spec := []byte(`{"process":{"user":{"uid":1000,"gid":100}}}`)
	f.Add(append(append([]byte{0x0a, 3, 'a', 'b', 'c', 0x12}, byte(len(spec))), spec...))
	f.Add([]byte{0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x08, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		if u := specUser(b); !userRe.MatchString(u) {
			t.Fatalf("user %q", u)
		}
		if v, ok := protoField(b, 2); ok && len(v) > len(b) {
			t.Fatalf("field of %d bytes in %d", len(v), len(b))
		}
		binaryTime(b)
	})
}

func FuzzAccounts(f *testing.F) {
	for _, b := range seeds(f, fixtureRoot+"/etc/passwd") {
		f.Add(b)
	}
	f.Add([]byte("a:x:1:1::/h:/bin/sh\nb:x:-1:1::/h2:\nc:x:2:1::rel:\nd:x:3:1::/h/../h:\n:x:4:1::/e:\n"))
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		put(t, root, "/etc/passwd", b)
		seen := map[string]bool{}
		as := accounts(hostfs.Root(root))
		if len(as) > maxAccounts {
			t.Fatalf("%d accounts", len(as))
		}
		for _, a := range as {
			if a.name == "" || a.uid <= 0 || !filepath.IsAbs(a.home) || a.home == "/" || seen[a.home] {
				t.Fatalf("account %+v", a)
			}
			seen[a.home] = true
		}
	})
}

// refRe is the grammar of a normalized reference (distribution's reference.go): a domain, a
// path of lower-case components, an optional tag and an optional sha256 digest.
var refRe = regexp.MustCompile(`^[A-Za-z0-9.:\[\]-]+/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
	`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$`)

// FuzzParseRef: a reference normalizes to a valid one, with a repository no longer than a
// package name may be, that normalizes to itself; anything else is refused.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"nginx", "nginx:1.25", "localhost:5000/a/b:c", "quay.io/acme/tool@sha256:" + strings.Repeat("1", 64),
		"index.docker.io/x", "[::1]/a", "a..b", "a___b", "sha256:" + strings.Repeat("a", 64), "<none>:<none>", "A/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := parseRef(s)
		if !ok {
			return
		}
		n := r.String()
		if len(r.repo) > protocol.MaxNameLen || len(n) > protocol.MaxFieldLen {
			t.Fatalf("%q: %d bytes", n, len(r.repo))
		}
		if !refRe.MatchString(n) {
			t.Fatalf("parseRef(%q) = %q, not a reference", s, n)
		}
		r2, ok := parseRef(n)
		if !ok || r2 != r {
			t.Fatalf("parseRef(%q) = %q, then %q, %v", s, n, r2.String(), ok)
		}
	})
}

// FuzzContainerdContent: the content store's index, manifest and configuration blobs of
// containerd's image, at the digests the fixture's image refers to.
func FuzzContainerdContent(f *testing.F) {
	const blobs = "/var/lib/containerd/io.containerd.content.v1.content/blobs/sha256/"
	const index, arm, amd, config = "8f3f7c8cd27085194d9f55a543870c03f5bd18cfc85de2248929f57d92e4c9e9",
		"0af2dc71ca72d480673cd1c9cde4dbc18e290461c391ad2d8bb1a50fcca39414",
		"9b21596c445f43a417e0e01551434effdb82bd9cb52f1e69bf8d5cca98417cef",
		"727269a4f1dd466dec3ebed4b1d3bd922932c9f6ebcb2493fe768dec97502da1"
	b := seeds(f, fixtureRoot+blobs+index, fixtureRoot+blobs+amd, fixtureRoot+blobs+config)
	f.Add(b[0], b[1], b[2])
	f.Add([]byte(`{"manifests":[{"digest":"sha256:`+index+`"}]}`), b[1], []byte(`{"created":"1969-12-31T23:59:59Z","config":{"Labels":{"\u0000":"x"}}}`))
	root := f.TempDir()
	put(f, root, containerdRoots[0].root+"/"+metaDB, smallBolt(f, func(tx *bolt.Tx) error {
		return putPath(tx, []byte("sha256:"+index), "v1", "default", "images", "docker.io/library/redis:7.2", "target", "digest")
	}))
	f.Fuzz(func(t *testing.T, idx, manifest, cfg []byte) {
		put(t, root, blobs+index, idx)
		put(t, root, blobs+arm, manifest)
		put(t, root, blobs+amd, manifest)
		put(t, root, blobs+config, cfg)
		res := collectBounded(t, root, 10*time.Second)
		if len(res.Software) != 1 || !validDigest(res.Software[0].Digest) {
			t.Fatalf("packages %+v", res.Software)
		}
		accepted(t, res)
	})
}

package container

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// metaDB is containerd's metadata database, under its root.
const metaDB = "io.containerd.metadata.v1.bolt/meta.db"

// containerdRoots are the containerd installations looked for: root and state directories.
var containerdRoots = []struct{ root, state string }{
	{"/var/lib/containerd", "/run/containerd"},
	{"/var/lib/rancher/k3s/agent/containerd", "/run/k3s/containerd"},
}

// dockerNamespaces are the containerd namespaces of Docker's own objects: its containers are
// Docker's, which the Docker part reports.
var dockerNamespaces = map[string]bool{"moby": true, "plugins.moby": true}

// containerd reads each installation's metadata database, one store per namespace.
func (s *Source) containerd(context.Context) ([]*store, bool, error) {
	var stores []*store
	var errs []error
	found := false
	for _, c := range containerdRoots {
		p := c.root + "/" + metaDB
		if !s.root.Exists(p) {
			continue
		}
		found = true
		r := &metaReader{src: s, root: c.root, state: c.state}
		if err := viewBolt(s.root, p, r.read); err != nil {
			errs = append(errs, err)
			continue
		}
		stores = append(stores, r.stores...)
	}
	return stores, found, joinErrs(errs)
}

// metaReader reads one meta.db, following containerd's layout (core/metadata/buckets.go):
// v1/<namespace>/images/<name>/{createdat, target/{digest, mediatype}, labels/*} and
// v1/<namespace>/containers/<id>/{image, spec, runtime/name, labels/*}.
type metaReader struct {
	src         *Source
	root, state string
	stores      []*store
}

func (r *metaReader) read(tx *bolt.Tx) error {
	v1 := tx.Bucket([]byte("v1"))
	if v1 == nil {
		return nil
	}
	return v1.ForEach(func(ns, v []byte) error {
		nb := v1.Bucket(ns)
		if v != nil || nb == nil {
			return nil // the schema "version" key
		}
		st := &store{manager: Containerd, location: r.root, prefix: string(ns) + "/"}
		r.images(st, nb.Bucket([]byte("images")))
		if !dockerNamespaces[string(ns)] {
			r.containers(st, string(ns), nb.Bucket([]byte("containers")))
		}
		r.stores = append(r.stores, st)
		return nil
	})
}

// images reads one namespace's images, grouping the names of one target into one image.
func (r *metaReader) images(st *store, b *bolt.Bucket) {
	if b == nil {
		return
	}
	byTarget := map[string]*image{}
	var order []string
	_ = b.ForEach(func(name, v []byte) error {
		ib := b.Bucket(name)
		if v != nil || ib == nil {
			st.skipped++
			return nil
		}
		var target string
		if tb := ib.Bucket([]byte("target")); tb != nil {
			target = string(tb.Get([]byte("digest")))
		}
		if !validDigest(target) {
			st.skipped++
			return nil
		}
		im, ok := byTarget[target]
		if !ok {
			if len(byTarget) == MaxImages {
				st.skipped++
				return nil
			}
			im = &image{id: target, labels: bucketMap(ib.Bucket([]byte("labels")))}
			im.created = binaryTime(ib.Get([]byte("createdat")))
			byTarget[target] = im
			order = append(order, target)
		}
		im.refs = append(im.refs, string(name))
		return nil
	})
	for _, t := range order {
		im := byTarget[t]
		r.resolveConfig(im)
		st.images = append(st.images, *im)
	}
}

// containers reads one namespace's containers.
func (r *metaReader) containers(st *store, ns string, b *bolt.Bucket) {
	if b == nil {
		return
	}
	_ = b.ForEach(func(id, v []byte) error {
		cb := b.Bucket(id)
		if v != nil || cb == nil {
			st.skipped++
			return nil
		}
		if len(st.ctrs) == MaxContainers {
			st.skipped++
			return nil
		}
		c := ctr{id: string(id), name: string(id), image: string(cb.Get([]byte("image"))),
			labels: bucketMap(cb.Bucket([]byte("labels")))}
		if sandbox(c.labels) {
			return nil
		}
		c.user = specUser(cb.Get([]byte("spec")))
		c.active, c.sub = "created", "created"
		if fileName(ns) && fileName(c.id) && r.src.root.Exists(r.state+"/io.containerd.runtime.v2.task/"+ns+"/"+c.id) {
			c.active, c.sub = "running", "running"
		}
		st.ctrs = append(st.ctrs, c)
		return nil
	})
}

// bucketMap returns a bucket's string values, copied out of the transaction.
func bucketMap(b *bolt.Bucket) map[string]string {
	if b == nil {
		return nil
	}
	m := map[string]string{}
	_ = b.ForEach(func(k, v []byte) error {
		if v != nil && len(m) < 4*64 {
			m[string(k)] = string(v)
		}
		return nil
	})
	return m
}

// binaryTime decodes a time written with time.Time.MarshalBinary, zero when it is not one.
func binaryTime(b []byte) time.Time {
	var t time.Time
	if t.UnmarshalBinary(b) != nil {
		return time.Time{}
	}
	return t
}

// resolveConfig replaces an image's target digest (a manifest or an index) by its
// configuration's digest, the image ID, and reads the configuration's creation time and
// labels, where the content store holds the blobs. The index entry for this machine's
// architecture is followed, else the first.
func (r *metaReader) resolveConfig(im *image) {
	d := im.id
	for range 3 {
		b, err := readFile(r.src.root, r.root+"/io.containerd.content.v1.content/blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), maxConfig)
		if err != nil {
			return
		}
		var m struct {
			Config    struct{ Digest string } `json:"config"`
			Manifests []struct {
				Digest   string
				Platform struct{ Architecture, OS string }
			} `json:"manifests"`
		}
		if json.Unmarshal(b, &m) != nil {
			return
		}
		switch {
		case validDigest(m.Config.Digest):
			cb, err := readFile(r.src.root, r.root+"/io.containerd.content.v1.content/blobs/sha256/"+strings.TrimPrefix(m.Config.Digest, "sha256:"), maxConfig)
			im.id = m.Config.Digest
			if err != nil {
				return
			}
			if cfg, err := parseImageConfig(cb); err == nil {
				im.created = cmp.Or(cfg.Created, im.created)
				for k, v := range cfg.Config.Labels {
					if im.labels == nil {
						im.labels = map[string]string{}
					}
					im.labels[k] = v
				}
			}
			return
		case len(m.Manifests) > 0:
			i := slices.IndexFunc(m.Manifests, func(e struct {
				Digest   string
				Platform struct{ Architecture, OS string }
			}) bool {
				return e.Platform.Architecture == runtime.GOARCH && e.Platform.OS == "linux"
			})
			d = m.Manifests[max(i, 0)].Digest
			if !validDigest(d) {
				return
			}
		default:
			return
		}
	}
}

// specUser returns "uid:gid" of the OCI runtime spec that containerd keeps protobuf-encoded
// in a google.protobuf.Any (field 2, value, holds the spec's JSON), "" when there is none.
func specUser(b []byte) string {
	val, ok := protoField(b, 2)
	if !ok {
		return ""
	}
	var spec struct {
		Process *struct {
			User struct {
				UID uint32 `json:"uid"`
				GID uint32 `json:"gid"`
			} `json:"user"`
		} `json:"process"`
	}
	if json.Unmarshal(val, &spec) != nil || spec.Process == nil {
		return ""
	}
	return strconv.FormatUint(uint64(spec.Process.User.UID), 10) + ":" + strconv.FormatUint(uint64(spec.Process.User.GID), 10)
}

// protoField returns the bytes of the first length-delimited field num of a protobuf message.
func protoField(b []byte, num uint64) ([]byte, bool) {
	for len(b) > 0 {
		key, n := uvarint(b)
		if n <= 0 {
			return nil, false
		}
		b = b[n:]
		switch key & 7 {
		case 0:
			_, n = uvarint(b)
			if n <= 0 {
				return nil, false
			}
			b = b[n:]
		case 2:
			l, n := uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return nil, false
			}
			if key>>3 == num {
				return b[n : n+int(l)], true
			}
			b = b[n+int(l):]
		default:
			return nil, false
		}
	}
	return nil, false
}

func uvarint(b []byte) (uint64, int) { return binary.Uvarint(b) }

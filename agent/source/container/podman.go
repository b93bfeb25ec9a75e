package container

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	bolt "go.etcd.io/bbolt"
)

// podmanRoot is the system's containers/storage store.
const podmanRoot = "/var/lib/containers/storage"

// podman reads the system's store and each account's rootless one.
func (s *Source) podman(context.Context) ([]*store, bool, error) {
	places := []*store{{manager: Podman, location: podmanRoot}}
	for _, a := range accounts(s.root) {
		places = append(places, &store{manager: Podman, location: a.home + "/.local/share/containers/storage", owner: a.name, prefix: a.name + "/"})
	}
	var stores []*store
	var errs []error
	found := false
	for _, st := range places {
		entries, err := s.root.ReadDir(st.location)
		if err != nil {
			if !hostfs.NotPresent(err) {
				found = true
				errs = append(errs, err)
			}
			continue
		}
		var imageDirs, ctrDirs []string
		for _, e := range entries {
			switch n := e.Name(); {
			case e.IsDir() && strings.HasSuffix(n, "-images"):
				imageDirs = append(imageDirs, st.location+"/"+n)
			case e.IsDir() && strings.HasSuffix(n, "-containers"):
				ctrDirs = append(ctrDirs, st.location+"/"+n)
			}
		}
		if len(imageDirs) == 0 && len(ctrDirs) == 0 {
			continue
		}
		found = true
		for _, d := range imageDirs {
			s.podmanImages(st, d)
		}
		if !s.libpodContainers(st) {
			for _, d := range ctrDirs {
				s.storageContainers(st, d)
			}
		}
		stores = append(stores, st)
	}
	return stores, found, joinErrs(errs)
}

// storageImage is one entry of images.json.
type storageImage struct {
	ID      string    `json:"id"`
	Names   []string  `json:"names"`
	Digest  string    `json:"digest"`
	Created time.Time `json:"created"`
}

// parseStorageImages reads images.json.
func parseStorageImages(b []byte) ([]storageImage, bool) {
	var is []storageImage
	if json.Unmarshal(b, &is) != nil {
		return nil, false
	}
	return is, true
}

// bigDataName is the file name containers/storage gives an item of an image's "big data": the
// key itself when it is only [0-9a-z.], else "=" and its base64.
func bigDataName(key string) string {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c != '.' && !alnum(c) {
			return "=" + base64.StdEncoding.EncodeToString([]byte(key))
		}
	}
	return key
}

// podmanImages reads one <driver>-images directory.
func (s *Source) podmanImages(st *store, dir string) {
	b, err := readFile(s.root, dir+"/images.json", maxJSON)
	if err != nil {
		if !hostfs.NotPresent(err) {
			st.skipped++
		}
		return
	}
	is, ok := parseStorageImages(b)
	if !ok {
		st.skipped++
		return
	}
	for i, im := range is {
		if len(st.images) == MaxImages {
			st.skipped += len(is) - i
			return
		}
		id, ok := imageID(im.ID)
		if !ok {
			st.skipped++
			continue
		}
		out := image{id: id, refs: im.Names, created: im.Created}
		if b, err := readFile(s.root, dir+"/"+im.ID+"/"+bigDataName(id), maxConfig); err == nil {
			if cfg, err := parseImageConfig(b); err == nil {
				out.labels = cfg.Config.Labels
				if !cfg.Created.IsZero() {
					out.created = cfg.Created
				}
			} else {
				st.skipped++
			}
		}
		st.images = append(st.images, out)
	}
}

// storageContainer is one entry of containers.json.
type storageContainer struct {
	ID       string   `json:"id"`
	Names    []string `json:"names"`
	Metadata string   `json:"metadata"`
}

// parseStorageContainers reads containers.json; each container's metadata is itself JSON,
// holding the name of the image it was made from.
func parseStorageContainers(b []byte) ([]ctr, int, bool) {
	var cs []storageContainer
	if json.Unmarshal(b, &cs) != nil {
		return nil, 0, false
	}
	out := make([]ctr, 0, len(cs))
	bad := 0
	for _, c := range cs {
		if len(c.Names) == 0 || c.Names[0] == "" {
			bad++
			continue
		}
		var md struct {
			ImageName string `json:"image-name"`
		}
		if c.Metadata != "" && json.Unmarshal([]byte(c.Metadata), &md) != nil {
			bad++
		}
		out = append(out, ctr{id: c.ID, name: c.Names[0], image: md.ImageName})
	}
	return out, bad, true
}

// storageContainers reads one <driver>-containers/containers.json: the containers of a store
// whose libpod state is not readable, with neither state nor labels.
func (s *Source) storageContainers(st *store, dir string) {
	b, err := readFile(s.root, dir+"/containers.json", maxJSON)
	if err != nil {
		if !hostfs.NotPresent(err) {
			st.skipped++
		}
		return
	}
	cs, bad, ok := parseStorageContainers(b)
	if !ok {
		st.skipped++
		return
	}
	st.skipped += bad
	st.addCtrs(cs)
}

// addCtrs appends containers up to MaxContainers, counting the rest as skipped.
func (st *store) addCtrs(cs []ctr) {
	room := MaxContainers - len(st.ctrs)
	if len(cs) > room {
		st.skipped += len(cs) - room
		cs = cs[:room]
	}
	st.ctrs = append(st.ctrs, cs...)
}

// libpodConfig is the part of a container's libpod configuration the source reads.
type libpodConfig struct {
	Name      string            `json:"name"`
	ImageName string            `json:"rootfsImageName"`
	RawImage  string            `json:"RawImageName"`
	User      string            `json:"user"`
	Labels    map[string]string `json:"labels"`
	IsInfra   bool              `json:"pause"`
}

// libpodState is the part of a container's libpod state the source reads.
type libpodState struct {
	State    int `json:"state"`
	ExitCode int `json:"exitCode"`
}

// libpodStates names libpod's container states (define.ContainerStatus), with the active
// state each maps to.
var libpodStates = [...][2]string{
	{"", "unknown"}, {"created", "created"}, {"created", "created"}, {"running", "running"},
	{"exited", "stopped"}, {"paused", "paused"}, {"exited", "exited"}, {"exited", "removing"},
	{"running", "stopping"},
}

// parseLibpod reads one container's config and state values; ok is false when the config is
// not one. A pod's infra container is returned with infra set.
func parseLibpod(config, state []byte) (c ctr, infra, ok bool) {
	var cfg libpodConfig
	if json.Unmarshal(config, &cfg) != nil || cfg.Name == "" {
		return c, false, false
	}
	c = ctr{name: cfg.Name, image: cfg.ImageName, user: cfg.User, labels: cfg.Labels}
	if c.image == "" {
		c.image = cfg.RawImage
	}
	var stt libpodState
	if json.Unmarshal(state, &stt) == nil && stt.State >= 0 && stt.State < len(libpodStates) {
		c.active, c.sub = libpodStates[stt.State][0], libpodStates[stt.State][1]
		if stt.State == 6 {
			c.sub += " (" + strconv.Itoa(stt.ExitCode) + ")"
		}
	}
	return c, cfg.IsInfra, true
}

// libpodContainers reads the containers of libpod's bolt state database, bucket "ctr", one
// bucket per container ID with its "config" and "state". It returns false when the database
// is not there or not readable, for containers.json to be read instead.
func (s *Source) libpodContainers(st *store) bool {
	p := st.location + "/libpod/bolt_state.db"
	if !s.root.Exists(p) {
		return false
	}
	var cs []ctr
	err := viewBolt(s.root, p, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("ctr"))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			cb := b.Bucket(k)
			if v != nil || cb == nil {
				st.skipped++
				return nil
			}
			if len(cs) == MaxContainers {
				st.skipped++
				return nil
			}
			c, infra, ok := parseLibpod(cb.Get([]byte("config")), cb.Get([]byte("state")))
			switch {
			case !ok:
				st.skipped++
			case !infra:
				c.id = string(k)
				cs = append(cs, c)
			}
			return nil
		})
	})
	if err != nil {
		s.log.Debug("libpod state not readable, listing containers.json", "path", p, "err", err)
		return false
	}
	st.addCtrs(cs)
	return true
}

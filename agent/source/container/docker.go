package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
)

const defaultDockerRoot = "/var/lib/docker"

// dockerRoot returns the system daemon's data root: daemon.json's "data-root" (or the older
// "graph") when it names an absolute path, else /var/lib/docker.
func (s *Source) dockerRoot() string {
	b, err := readFile(s.root, "/etc/docker/daemon.json", 1<<20)
	if err != nil {
		return defaultDockerRoot
	}
	var cfg struct {
		DataRoot string `json:"data-root"`
		Graph    string `json:"graph"`
	}
	if json.Unmarshal(b, &cfg) != nil {
		return defaultDockerRoot
	}
	for _, p := range []string{cfg.DataRoot, cfg.Graph} {
		if path.IsAbs(p) {
			return path.Clean(p)
		}
	}
	return defaultDockerRoot
}

// docker reads the system daemon and every rootless one.
func (s *Source) docker(ctx context.Context) ([]*store, bool, error) {
	type place struct{ sock, dataRoot, owner string }
	places := []place{{"/var/run/docker.sock", s.dockerRoot(), ""}}
	for _, a := range accounts(s.root) {
		places = append(places, place{fmt.Sprintf("/run/user/%d/docker.sock", a.uid), a.home + "/.local/share/docker", a.name})
	}
	var stores []*store
	var errs []error
	found := false
	for _, p := range places {
		st := &store{manager: Docker, location: p.dataRoot, owner: p.owner}
		if p.owner != "" {
			st.prefix = p.owner + "/"
		}
		if s.timeout > 0 && s.root.Exists(p.sock) {
			found = true
			err := s.dockerAPI(ctx, p.sock, st)
			if err == nil {
				s.dockerUsers(st)
				stores = append(stores, st)
				continue
			}
			s.log.Debug("docker engine API not answering, reading its data root", "socket", p.sock, "err", err)
			*st = store{manager: st.manager, location: st.location, owner: st.owner, prefix: st.prefix}
		}
		if !s.root.Exists(p.dataRoot+"/containers") && !s.root.Exists(p.dataRoot+"/image") {
			continue
		}
		found = true
		if err := s.dockerOffline(st); err != nil {
			errs = append(errs, err)
			continue
		}
		stores = append(stores, st)
	}
	return stores, found, joinErrs(errs)
}

// dockerConfig is the part of a container's config.v2.json the source reads.
type dockerConfig struct {
	Name  string
	State struct {
		Running, Paused, Restarting, Dead, RemovalInProgress bool
		ExitCode                                             int
		StartedAt                                            time.Time
	}
	Config struct {
		Image  string
		User   string
		Labels map[string]string
	}
}

// parseDockerConfig reads one config.v2.json.
func parseDockerConfig(b []byte) (ctr, bool) {
	var c dockerConfig
	if json.Unmarshal(b, &c) != nil {
		return ctr{}, false
	}
	name := strings.TrimPrefix(c.Name, "/")
	if name == "" {
		return ctr{}, false
	}
	out := ctr{name: name, image: c.Config.Image, user: c.Config.User, labels: c.Config.Labels}
	st := c.State
	switch {
	case st.Running && st.Paused:
		out.active, out.sub = "paused", "paused"
	case st.Restarting:
		out.active, out.sub = "running", "restarting"
	case st.Running:
		out.active, out.sub = "running", "running"
	case st.Dead:
		out.active, out.sub = "exited", "dead"
	case st.RemovalInProgress:
		out.active, out.sub = "exited", "removing"
	case st.StartedAt.IsZero():
		out.active, out.sub = "created", "created"
	default:
		out.active, out.sub = "exited", "exited ("+strconv.Itoa(st.ExitCode)+")"
	}
	return out, true
}

// sandbox reports whether a container's labels mark it as a Kubernetes pod sandbox (the
// pause container that holds the pod's namespaces), which the source leaves out.
func sandbox(l map[string]string) bool {
	return l["io.kubernetes.docker.type"] == "podsandbox" || l["io.cri-containerd.kind"] == "sandbox"
}

// dockerOffline reads a Docker data root.
func (s *Source) dockerOffline(st *store) error {
	dir := st.location + "/containers"
	entries, err := s.root.ReadDir(dir)
	if err != nil && !hostfs.NotPresent(err) {
		return err
	}
	// The directory is resolved once, not for each of its containers: what is read in it is
	// a directory as listed and its config.v2.json if that is a regular file, never a link.
	real, err := s.root.Resolve(dir)
	if err != nil {
		entries = nil
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if n == MaxContainers {
			st.skipped++
			continue
		}
		n++
		b, err := source.ReadRegular(real+"/"+e.Name()+"/config.v2.json", maxConfig)
		if err != nil {
			st.skipped++
			continue
		}
		c, ok := parseDockerConfig(b)
		if !ok {
			st.skipped++
			continue
		}
		if !sandbox(c.labels) {
			st.ctrs = append(st.ctrs, c)
		}
	}
	return s.dockerImages(st)
}

// dockerImages reads image/<driver>/repositories.json and each image's configuration.
func (s *Source) dockerImages(st *store) error {
	drivers, err := s.root.ReadDir(st.location + "/image")
	if err != nil {
		if hostfs.NotPresent(err) {
			return nil
		}
		return err
	}
	for _, d := range drivers {
		base := st.location + "/image/" + d.Name()
		b, err := readFile(s.root, base+"/repositories.json", maxJSON)
		if err != nil {
			if !hostfs.NotPresent(err) {
				st.skipped++
			}
			continue
		}
		refs, ok := parseRepositories(b)
		if !ok {
			st.skipped++
			continue
		}
		ids := make([]string, 0, len(refs))
		for id := range refs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for i, id := range ids {
			if len(st.images) == MaxImages {
				st.skipped += len(ids) - i
				break
			}
			im := image{id: id, refs: refs[id]}
			if b, err := readFile(s.root, base+"/imagedb/content/sha256/"+strings.TrimPrefix(id, "sha256:"), maxConfig); err == nil {
				if cfg, err := parseImageConfig(b); err == nil {
					im.created, im.labels = cfg.Created, cfg.Config.Labels
				} else {
					st.skipped++
				}
			}
			st.images = append(st.images, im)
		}
	}
	return nil
}

// parseRepositories reads repositories.json: {"Repositories": {repo: {ref: image ID}}}. It
// returns each image ID's references, sorted.
func parseRepositories(b []byte) (map[string][]string, bool) {
	var f struct {
		Repositories map[string]map[string]string
	}
	if json.Unmarshal(b, &f) != nil {
		return nil, false
	}
	out := map[string][]string{}
	for _, refs := range f.Repositories {
		for r, id := range refs {
			if id, ok := imageID(id); ok {
				out[id] = append(out[id], r)
			}
		}
	}
	for _, r := range out {
		slices.Sort(r)
	}
	return out, true
}

// dockerUsers fills, for containers listed by the Engine API (whose list carries no user),
// the configured user from config.v2.json where the data root is readable.
func (s *Source) dockerUsers(st *store) {
	for i := range st.ctrs {
		c := &st.ctrs[i]
		if !fileName(c.id) {
			continue
		}
		b, err := readFile(s.root, st.location+"/containers/"+c.id+"/config.v2.json", maxConfig)
		if err != nil {
			continue
		}
		var cfg dockerConfig
		if json.Unmarshal(b, &cfg) == nil {
			c.user = cfg.Config.User
		}
	}
}

func joinErrs(errs []error) error { return errors.Join(errs...) }

// fileName reports whether a runtime's ID or namespace can name a file of its store: not
// empty, ".", ".." nor holding a '/'. Only such a name is joined to a path.
func fileName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsRune(s, '/')
}

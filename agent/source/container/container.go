// Package container lists the containers (running and stopped) and the images present of the
// host's container runtimes: Docker, Podman and containerd. Images are software of the
// "container-image" format, one package per repository and tag; containers are services whose
// manager is the runtime.
//
// Docker: the Engine API on <root>/var/run/docker.sock when it answers (GET
// /containers/json?all=1 and /images/json, bounded in time and size), else its data root
// (/etc/docker/daemon.json "data-root", default /var/lib/docker): containers/<id>/config.v2.json
// and image/overlay2/repositories.json with imagedb/content/sha256/<id>. Rootless Docker:
// /run/user/<uid>/docker.sock and ~/.local/share/docker for each home in /etc/passwd.
//
// Podman: the containers/storage store /var/lib/containers/storage (rootless:
// ~/.local/share/containers/storage): <driver>-images/images.json with each image's
// configuration beside it, <driver>-containers/containers.json, and libpod's own state
// database libpod/bolt_state.db for each container's labels, user and state. Podman 5's
// SQLite state (db.sql) is not read: its containers are then listed from containers.json
// with no state, labels or user.
//
// containerd: io.containerd.metadata.v1.bolt/meta.db under /var/lib/containerd and k3s's
// /var/lib/rancher/k3s/agent/containerd, every namespace but Docker's own ("moby",
// "plugins.moby", whose containers Docker reports). The image configuration is read from the
// content store when present. containerd keeps no container state in its metadata: a
// container with a task bundle under /run/containerd/io.containerd.runtime.v2.task (k3s:
// /run/k3s/containerd/...) is running, any other is "created".
//
// Names: a container is named by the runtime's name for it ("web"), prefixed with the owner
// for a rootless runtime ("alice/web") and with the namespace for containerd
// ("k8s.io/3f2c…"), so that (manager, name) is unique on the host. Its User is the rootless
// owner, else the user of its configuration. Kubernetes pod sandboxes (pause containers) and
// podman pod infra containers are left out: the pod's containers carry its labels.
package container

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// Format is the Package.Source of container images.
const Format = "container-image"

// The managers of the services this source reports.
const (
	Docker     = "docker"
	Podman     = "podman"
	Containerd = "containerd"
)

// Limits. Past them records are counted as skipped, never read.
const (
	MaxContainers     = 5000      // containers of one runtime store
	MaxImages         = 5000      // images of one runtime store
	maxJSON           = 64 << 20  // a store index (images.json, containers.json, repositories.json)
	maxConfig         = 4 << 20   // one container or image configuration
	maxDB             = 256 << 20 // a bolt database copied when its lock is held
	maxResponse       = 64 << 20  // one Engine API response
	lockWait          = 200 * time.Millisecond
	DefaultAPITimeout = 3 * time.Second
)

// Options configures a Source. The zero value reads "/" and logs nowhere.
type Options struct {
	Root   hostfs.Root
	Logger *slog.Logger
	// APITimeout bounds each conversation with a Docker Engine API; zero means
	// DefaultAPITimeout, negative never asks the API.
	APITimeout time.Duration
}

// Source lists containers and images.
type Source struct {
	root    hostfs.Root
	log     *slog.Logger
	timeout time.Duration
}

// New returns a container source reading under opts.Root.
func New(opts Options) *Source {
	s := &Source{root: opts.Root, log: opts.Logger, timeout: opts.APITimeout}
	if s.root == "" {
		s.root = "/"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("source", s.Name())
	if s.timeout == 0 {
		s.timeout = DefaultAPITimeout
	}
	return s
}

// Name returns "containers".
func (*Source) Name() string { return "containers" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return Format }

// ServiceManagers implements source.ServiceSource.
func (*Source) ServiceManagers() []string { return []string{Docker, Podman, Containerd} }

// WatchPaths implements source.Watcher: the directories whose files the rootful runtimes
// rewrite when a container or image is added or removed. Rootless stores and state changes
// (a container stopping) are seen at the next periodic read.
func (s *Source) WatchPaths() []string {
	d := s.dockerRoot()
	var ps []string
	for _, p := range []string{
		d + "/containers", d + "/image/overlay2",
		podmanRoot + "/overlay-containers", podmanRoot + "/overlay-images", podmanRoot + "/libpod",
	} {
		ps = append(ps, s.root.Path(p))
	}
	for _, c := range containerdRoots {
		ps = append(ps, s.root.Path(c.root+"/"+metaDB[:strings.LastIndexByte(metaDB, '/')]))
	}
	return ps
}

// image is one image of one store, as a runtime records it.
type image struct {
	id      string // "sha256:<hex>", the configuration's digest
	refs    []string
	created time.Time
	labels  map[string]string
}

// ctr is one container, as a runtime records it.
type ctr struct {
	id, name, image, user string
	active, sub           string
	labels                map[string]string
}

// store is what one runtime store held.
type store struct {
	manager  string
	location string // host path of the store
	owner    string // rootless owner, "" for the system's store
	prefix   string // prepended to container names: "alice/", "k8s.io/"
	images   []image
	ctrs     []ctr
	skipped  int
}

// Collect reads every runtime store found on the host.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	var stores []*store
	var errs []error
	found := false
	for _, read := range []func(context.Context) ([]*store, bool, error){s.docker, s.podman, s.containerd} {
		st, present, err := read(ctx)
		found = found || present
		stores = append(stores, st...)
		if err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	if !found {
		return res, fmt.Errorf("no docker, podman or containerd data: %w", source.ErrNotPresent)
	}
	res.Software, res.Services, res.Skipped = assemble(stores)
	if len(errs) > 0 && len(stores) == 0 {
		return res, errors.Join(errs...)
	}
	for _, err := range errs {
		s.log.Warn("container store not read", "err", err)
		res.Skipped++
	}
	return res, nil
}

// assemble turns the stores' records into packages and services: one package per image
// repository and tag (an untagged image's version is its short ID), the same package seen in
// several stores counted in Copies; one service per container.
func assemble(stores []*store) ([]model.Package, []model.Service, int) {
	var pkgs []model.Package
	var svcs []model.Service
	skipped := 0
	for _, st := range stores {
		skipped += st.skipped
		for i := range st.images {
			pkgs = appendImage(pkgs, st, &st.images[i], &skipped)
		}
		for i := range st.ctrs {
			svcs = append(svcs, service(st, &st.ctrs[i], &skipped))
		}
	}
	slices.SortFunc(pkgs, func(a, b model.Package) int {
		return cmp.Or(model.ComparePackages(a, b), strings.Compare(a.Location, b.Location))
	})
	out := pkgs[:0]
	for _, p := range pkgs {
		if n := len(out); n > 0 && model.ComparePackages(out[n-1], p) == 0 {
			out[n-1].Copies++
			continue
		}
		out = append(out, p)
	}
	slices.SortStableFunc(svcs, model.CompareServices)
	n := len(svcs)
	svcs = slices.CompactFunc(svcs, func(a, b model.Service) bool { return a.Manager == b.Manager && a.Name == b.Name })
	skipped += n - len(svcs)
	return out, svcs, skipped
}

// appendImage appends the packages of one image: one per tagged reference; one per
// repository, versioned by the short image ID, for an image known only by digest. An image
// with no reference at all (a dangling build layer) is no package.
func appendImage(pkgs []model.Package, st *store, im *image, skipped *int) []model.Package {
	lbl := labels(im.labels, skipped)
	base := model.Package{Source: Format}
	if !im.created.IsZero() {
		// Seconds, as the Engine API gives them: a read through the API and one of the files agree.
		base.InstallTime = im.created.Truncate(time.Second).UTC()
	}
	base.Vendor = text(im.labels[labelVendor], protocol.MaxFieldLen)
	base.Summary = text(cmp.Or(im.labels[labelDescription], im.labels[labelTitle]), protocol.MaxFieldLen)
	base.Origin = text(im.labels[labelSource], protocol.MaxFieldLen)
	base.Digest = im.id
	base.User = st.owner
	base.Location = st.location
	base.Labels = lbl
	tagged := map[string]bool{}
	var digestOnly []string
	for _, s := range im.refs {
		r, ok := parseRef(s)
		if !ok {
			if _, alias := imageID(s); !alias {
				*skipped++ // a bare image ID is containerd's alias for the image, not an error
			}
			continue
		}
		if r.tag == "" {
			digestOnly = append(digestOnly, r.repo)
			continue
		}
		if tagged[r.repo+":"+r.tag] {
			continue
		}
		tagged[r.repo+":"+r.tag] = true
		tagged[r.repo] = true
		p := base
		p.Name, p.Version = r.repo, r.tag
		pkgs = append(pkgs, p)
	}
	for _, repo := range digestOnly {
		if tagged[repo] || im.id == "" {
			continue
		}
		tagged[repo] = true
		p := base
		p.Name, p.Version = repo, shortID(im.id)
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// service returns the service of one container.
func service(st *store, c *ctr, skipped *int) model.Service {
	svc := model.Service{
		Manager:     st.manager,
		Name:        text(st.prefix+c.name, protocol.MaxNameLen),
		ActiveState: c.active,
		SubState:    text(c.sub, protocol.MaxNameLen),
		User:        text(cmp.Or(st.owner, c.user), protocol.MaxNameLen),
		Labels:      labels(c.labels, skipped),
	}
	if r, ok := parseRef(c.image); ok {
		svc.Image = r.String()
	} else {
		svc.Image = text(c.image, protocol.MaxFieldLen)
	}
	svc.Description = text(cmp.Or(c.labels[labelDescription], c.labels[labelTitle]), protocol.MaxFieldLen)
	return svc
}

// readFile reads the host file p whole, at most max bytes, if it is a regular file: links
// resolve inside the host root, a FIFO is not waited on.
func readFile(root hostfs.Root, p string, max int64) ([]byte, error) {
	rp, err := root.Resolve(p)
	if err != nil {
		return nil, err
	}
	return source.ReadRegular(rp, max)
}

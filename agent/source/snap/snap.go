// Package snap reads the snaps snapd installed on a host.
//
// snapd keeps what it installed in its state file, /var/lib/snapd/state.json: data.snaps
// maps each snap's instance name to its state (snapstate.SnapState), the revisions it keeps
// (its sequence, each a name, snap ID, revision and channel), which revision is current,
// whether it is enabled, the channel it tracks, its type and the flags it was installed with
// (devmode, classic...). The file also holds snapd's changes and tasks and can take several
// MiB: only data.snaps is decoded, as a stream, and at most MaxState bytes are read. Each
// current revision's meta/snap.yaml, in the snap's mount directory /snap/<name>/<revision>
// (Debian, Ubuntu) or /var/lib/snapd/snap/<name>/<revision> (Fedora, Arch, where /snap is a
// link or absent), gives its version, summary, confinement, base and apps; the snap file,
// /var/lib/snapd/snaps/<name>_<revision>.snap, its install time and size; the assertion
// database, /var/lib/snapd/assertions, its publisher (the snap-declaration's publisher-id,
// and that account's username, display name and validation).
//
// Each snap is a package of format "snap" named after the snap (title snap:firefox). Bases,
// the core snaps, snapd, kernels and gadgets (types os, base, snapd, kernel, gadget) are
// part of the platform (InstallInfo.Platform). A state file that is not snapd's fails the
// source; a snap whose snap.yaml cannot be read is still reported, from the state file, and
// counted as skipped.
package snap

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	sourceFormat = "snap"
	// StatePath is snapd's state file.
	StatePath = "/var/lib/snapd/state.json"
	// MaxState bounds the state file: a few MiB on a busy host, most of it changes and tasks.
	MaxState = 32 << 20
	// MaxSnaps bounds the snaps read per pass; MaxMeta one snap.yaml.
	MaxSnaps = 5000
	MaxMeta  = 256 << 10
	blobDir  = "/var/lib/snapd/snaps"
)

// mountRoots are where snapd mounts the snaps: /snap, else the Fedora and Arch layout's.
var mountRoots = []string{"/snap", "/var/lib/snapd/snap"}

// platformTypes are the snap types that make up the platform rather than applications.
var platformTypes = map[string]bool{"os": true, "core": true, "base": true, "snapd": true, "kernel": true, "gadget": true}

// Source reads the snaps of a host.
type Source struct{ root hostfs.Root }

// New returns a snap source reading under root.
func New(root hostfs.Root) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root}
}

// Name implements source.Source.
func (*Source) Name() string { return "snap" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// WatchPaths implements source.Watcher: the state file's directory, where snapd replaces
// the file on every change.
func (s *Source) WatchPaths() []string {
	return []string{s.root.Path("/var/lib/snapd")}
}

// Collect implements source.Source. A host without snapd's state file is one snapd never ran
// on: the source is not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	states, bad, err := s.readState()
	if err != nil {
		if hostfs.NotPresent(err) {
			return res, fmt.Errorf("snap: %w", source.ErrNotPresent)
		}
		res.Skipped = 1
		return res, fmt.Errorf("snap: %w", err)
	}
	res.Skipped = bad
	var pkgs []model.Package
	ps := &publishers{root: s.root, accounts: map[string]*Publisher{}}
	for i, st := range states {
		if i%64 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		p, skipped, ok := s.pkg(st, ps)
		res.Skipped += skipped
		if ok {
			pkgs = append(pkgs, p)
		}
	}
	res.Software = source.MergeCopies(pkgs)
	return res, nil
}

// readState reads the snaps of the state file, sorted by instance name; bad counts those
// malformed or past MaxSnaps.
func (s *Source) readState() (states []State, bad int, err error) {
	real, err := s.root.Resolve(StatePath)
	if err != nil {
		return nil, 0, err
	}
	f, fi, err := source.OpenRegular(real)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	if fi.Size() > MaxState {
		return nil, 0, fmt.Errorf("%s: %w", StatePath, hostfs.ErrTooLarge)
	}
	more, err := DecodeState(io.LimitReader(f, MaxState), MaxSnaps, func(st State, ok bool) {
		if !ok {
			bad++
			return
		}
		states = append(states, st)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", StatePath, err)
	}
	slices.SortFunc(states, func(a, b State) int { return strings.Compare(a.Instance, b.Instance) })
	return states, bad + more, nil
}

// pkg makes the package of one snap; skipped counts what could not be read of it (its
// snap.yaml, labels). ok is false for a snap with no current revision, skipped when its state
// is malformed and not counted when it is not installed yet.
func (s *Source) pkg(st State, ps *publishers) (p model.Package, skipped int, ok bool) {
	cur, found := st.CurrentInfo()
	name, key, _ := strings.Cut(st.Instance, "_")
	if cur.Name != "" {
		name = cur.Name
	}
	if !found || !validName(name) || !validInstance(st.Instance, name) {
		if len(st.Sequence) == 0 && st.Current == 0 {
			return p, 0, false // being installed: no revision is on disk yet
		}
		return p, 1, false
	}
	rev := st.Current.String()
	p = model.Package{Source: sourceFormat, Name: name, Version: "r" + rev}
	p.Location = "/snap/" + st.Instance + "/" + rev
	meta, dir, err := s.meta(st.Instance, rev)
	if err != nil || meta.Name != name {
		skipped++
	} else {
		p.Version = source.Text([]byte(meta.Version), protocol.MaxFieldLen)
		p.Location = dir
		if len(meta.Architectures) == 1 && meta.Architectures[0] != "all" {
			p.Arch = source.Text([]byte(meta.Architectures[0]), protocol.MaxNameLen)
		}
		p.License = source.Text([]byte(meta.License), protocol.MaxFieldLen)
		p.Summary = meta.Summary
	}
	if p.Summary == "" {
		p.Summary = cur.Summary
	}
	p.Summary = source.Text([]byte(p.Summary), protocol.MaxFieldLen)
	if real, err := s.root.Resolve(blobDir); err == nil {
		if fi, err := os.Lstat(real + "/" + st.Instance + "_" + rev + ".snap"); err == nil && fi.Mode().IsRegular() {
			p.InstallTime, p.InstalledSize = fi.ModTime().UTC(), uint64(fi.Size())
		}
	}
	typ := st.Type
	if typ == "" {
		typ = meta.Type
	}
	if typ == "" {
		typ = "app"
	}
	p.Platform = platformTypes[typ]
	l := labels(st, cur, meta, typ, key)
	if pub, bad := ps.of(cur.SnapID); pub != nil {
		p.Vendor = source.Text([]byte(first(pub.DisplayName, pub.Username)), protocol.MaxFieldLen)
		l["publisher"] = pub.Username
		if pub.Validation != "" {
			l["publisher_validation"] = pub.Validation
		}
	} else if bad {
		skipped++
	}
	var dropped int
	p.Labels, dropped = source.Labels(l)
	return p, skipped + dropped, true
}

// labels are the facts of a snap that have no field of their own.
func labels(st State, cur SideInfo, meta Meta, typ, key string) map[string]string {
	l := map[string]string{"revision": st.Current.String(), "type": typ}
	set := func(k, v string) {
		if v != "" {
			l[k] = v
		}
	}
	set("channel", st.TrackingChannel)
	set("snap_id", cur.SnapID)
	set("instance_key", key)
	base := meta.Base
	if base == "" {
		base = st.Base
	}
	set("base", base)
	set("grade", meta.Grade)
	if len(meta.Apps) > 0 {
		l["apps"] = strings.Join(meta.Apps, ",")
	}
	confinement := meta.Confinement
	if confinement == "" && meta.Name != "" {
		confinement = "strict"
	}
	if st.DevMode {
		confinement = "devmode" // installed with --devmode, whatever the snap asks for
	}
	set("confinement", confinement)
	if st.JailMode {
		l["jailmode"] = "true"
	}
	if !st.Active {
		l["enabled"] = "false"
	}
	return l
}

// meta reads the snap.yaml of a snap's revision from its mount directory, returning that
// directory's host path.
func (s *Source) meta(instance, rev string) (Meta, string, error) {
	err := error(os.ErrNotExist)
	for _, r := range mountRoots {
		dir := r + "/" + instance + "/" + rev
		real, rerr := s.root.Resolve(dir + "/meta/snap.yaml")
		if rerr != nil {
			err = rerr
			continue
		}
		b, rerr := source.ReadRegular(real, MaxMeta)
		if rerr != nil {
			if !hostfs.NotPresent(rerr) {
				err = rerr
			}
			continue
		}
		m, perr := ParseMeta(b)
		return m, dir, perr
	}
	return Meta{}, "", err
}

func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// validName checks a snap name as snapd allows it: 1 to 40 lower-case letters, digits and
// hyphens, with a letter, no hyphen first or last and no two hyphens in a row.
func validName(s string) bool {
	if s == "" || len(s) > 40 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	letter := false
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z':
			letter = true
		case c >= '0' && c <= '9', c == '-':
		default:
			return false
		}
	}
	return letter
}

// validInstance checks an instance name: the snap's name, or its name, "_" and an instance
// key of 1 to 10 lower-case letters and digits.
func validInstance(instance, name string) bool {
	if instance == name {
		return true
	}
	key, ok := strings.CutPrefix(instance, name+"_")
	if !ok || key == "" || len(key) > 10 {
		return false
	}
	for _, c := range []byte(key) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

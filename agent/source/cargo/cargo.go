// Package cargo reads the Rust crates `cargo install` installed on a host.
//
// cargo keeps what it installed into a root (CARGO_HOME, ~/.cargo by default) in two
// listings there: .crates2.json, {"installs": {"ripgrep 14.1.0 (registry+https://...)":
// {"bins": ["rg"], ...}}}, and the older .crates.toml, a [v1] table of the same package IDs
// and their binaries, which cargo still writes beside it. The source reads, under the host
// root, the listings of ~/.cargo in each home of /etc/passwd (root's included) and of
// /usr/local/cargo (the CARGO_HOME of the official Rust container images): .crates2.json,
// else .crates.toml.
//
// Each install is a package of format "cargo" named after the crate (title cargo:ripgrep):
// its version, its first binary's path as the location (the binary's modification time and
// size as install time and size), the home's account as the user, and as labels the source
// it came from (a registry, git or path URL), its binaries and the target it was built for.
package cargo

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	sourceFormat = "cargo"
	// MaxListing bounds one listing: an install takes about 500 bytes of .crates2.json.
	MaxListing = 8 << 20
	// MaxInstalls bounds the installs read per pass.
	MaxInstalls = 50000
	crates2     = ".crates2.json"
	cratesTOML  = ".crates.toml"
)

// systemRoots are the cargo roots outside the homes.
var systemRoots = []string{"/usr/local/cargo"}

// Source reads the crates cargo installed.
type Source struct{ root hostfs.Root }

// New returns a cargo source reading under root.
func New(root hostfs.Root) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root}
}

// Name implements source.Source.
func (*Source) Name() string { return "cargo" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// cargoRoot is one cargo root: a host path and the account whose home it is in.
type cargoRoot struct{ host, user string }

func (s *Source) roots() []cargoRoot {
	var out []cargoRoot
	for _, r := range systemRoots {
		out = append(out, cargoRoot{host: r})
	}
	for _, a := range source.Accounts(s.root) {
		out = append(out, cargoRoot{host: strings.TrimSuffix(a.Home, "/") + "/.cargo", user: a.Name})
	}
	return out
}

// WatchPaths implements source.Watcher: the cargo roots, where cargo rewrites its listings.
func (s *Source) WatchPaths() []string {
	var out []string
	for _, r := range s.roots() {
		out = append(out, s.root.Path(r.host))
	}
	return out
}

// Collect implements source.Source. A host where no cargo root has a listing is one cargo
// installed nothing on: the source is not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	var pkgs []model.Package
	present := false
	for i, r := range s.roots() {
		if i%64 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		installs, skipped, ok := s.listing(r)
		res.Skipped += skipped
		present = present || ok
		for _, in := range installs {
			if len(pkgs) >= MaxInstalls {
				res.Skipped++
				continue
			}
			p, dropped := s.pkg(r, in)
			res.Skipped += dropped
			pkgs = append(pkgs, p)
		}
	}
	if !present {
		return res, fmt.Errorf("cargo: %w", source.ErrNotPresent)
	}
	res.Software = source.MergeCopies(pkgs)
	return res, nil
}

// listing reads the installs of one cargo root: .crates2.json, else .crates.toml. ok is
// false when the root has neither.
func (s *Source) listing(r cargoRoot) (installs []Install, skipped int, ok bool) {
	real, err := s.root.Resolve(r.host)
	if err != nil {
		return nil, 0, false
	}
	b, err := source.ReadRegular(real+"/"+crates2, MaxListing)
	if err == nil {
		installs, skipped, err = ParseCrates2(b)
		if err == nil {
			return installs, skipped, true
		}
	}
	present := !hostfs.NotPresent(err)
	if present {
		skipped = 1 // a .crates2.json that cannot be read or parsed: the older listing serves
	}
	b, err = source.ReadRegular(real+"/"+cratesTOML, MaxListing)
	if err != nil {
		if !hostfs.NotPresent(err) {
			return nil, skipped + 1, true
		}
		return nil, skipped, present
	}
	installs, n := ParseCratesTOML(b)
	return installs, skipped + n, true
}

// pkg makes the package of one install; dropped counts the labels left out.
func (s *Source) pkg(r cargoRoot, in Install) (model.Package, int) {
	p := model.Package{
		Source:      sourceFormat,
		Name:        in.Name,
		Version:     in.Version,
		InstallInfo: model.InstallInfo{Location: r.host, User: r.user},
	}
	if len(in.Bins) > 0 {
		p.Location = r.host + "/bin/" + in.Bins[0]
		if real, err := s.root.Resolve(r.host + "/bin"); err == nil {
			if fi, err := os.Lstat(real + "/" + in.Bins[0]); err == nil && fi.Mode().IsRegular() {
				p.InstallTime, p.InstalledSize = fi.ModTime().UTC(), uint64(fi.Size())
			}
		}
	}
	p.Location = source.Text([]byte(p.Location), protocol.MaxFieldLen)
	labels := map[string]string{"source": in.Source}
	if len(in.Bins) > 0 {
		labels["bins"] = strings.Join(in.Bins, ",")
	}
	if in.Target != "" {
		labels["target"] = in.Target
	}
	var dropped int
	p.Labels, dropped = source.Labels(labels)
	return p, dropped
}

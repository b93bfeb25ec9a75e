// Package gobin reads the Go programs installed on a host from the build information the Go
// linker embeds in every binary.
//
// It lists, under the host root, /usr/local/bin, /usr/local/go/bin, /opt/*/bin and ~/go/bin of
// each home in /etc/passwd (root's included: `go install`'s default GOBIN), without entering
// subdirectories or following links, and reads the build information of each executable
// regular file that is an ELF binary (debug/buildinfo, on a reader that allows it at most
// MaxRead bytes of the file).
//
// A binary whose main module is known is a package of format "go" named after that module
// (title go:github.com/acme/tool); its version is the module's version, or for a binary built
// from a checkout ("(devel)") the first 12 digits of the VCS revision it records. The
// commands of the Go distribution itself (main package cmd/go, cmd/gofmt...) are one package,
// the title go:toolchain, whose version is the Go release ("1.22.5") and whose location is
// the GOROOT.
// A Go binary without a main module (go build file.go) is left to the files source.
package gobin

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	sourceFormat = "go"
	// ToolchainName is the name of the Go distribution's own commands.
	ToolchainName = "toolchain"
	// MaxRead bounds the bytes read of one file; build information is read from the ELF
	// headers and one small section, a few KiB.
	MaxRead = 16 << 20
	// MaxOpt bounds the /opt/*/bin directories, MaxEntries the entries listed per directory
	// and MaxBinaries the binaries read per pass.
	MaxOpt      = 256
	MaxEntries  = 10000
	MaxBinaries = 20000
)

// systemDirs are the directories listed besides /opt/*/bin and the homes' go/bin.
var systemDirs = []string{"/usr/local/bin", "/usr/local/go/bin"}

// Source reads the Go binaries of a host.
type Source struct{ root hostfs.Root }

// New returns a gobin source reading under root.
func New(root hostfs.Root) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root}
}

// Name implements source.Source.
func (*Source) Name() string { return "gobin" }

// PackageFormat implements source.PackageSource.
func (*Source) PackageFormat() string { return sourceFormat }

// binDir is one directory listed: its host path and, for a home's, the account.
type binDir struct{ host, user string }

// Dirs returns the host paths of the directories the source lists on the host under root,
// so that the files source can leave the binaries this one reports to it.
func Dirs(root hostfs.Root) []string {
	var out []string
	for _, d := range dirs(root) {
		out = append(out, d.host)
	}
	return out
}

func dirs(root hostfs.Root) []binDir {
	var out []binDir
	for _, d := range systemDirs {
		out = append(out, binDir{host: d})
	}
	if entries, err := root.ReadDir("/opt"); err == nil {
		for i, e := range entries {
			if i == MaxOpt {
				break
			}
			if e.IsDir() {
				out = append(out, binDir{host: "/opt/" + e.Name() + "/bin"})
			}
		}
	}
	for _, a := range source.Accounts(root) {
		out = append(out, binDir{host: strings.TrimSuffix(a.Home, "/") + "/go/bin", user: a.Name})
	}
	return out
}

// Reports says whether the source reports a Go binary whose build information names the
// main module mainPath and the main package pkgPath: one with a main module, or one of the
// Go distribution's commands.
func Reports(mainPath, pkgPath string) bool {
	return mainPath != "" || strings.HasPrefix(pkgPath, "cmd/")
}

// WatchPaths implements source.Watcher: the directories listed, where `go install` and an
// unpacked release put binaries.
func (s *Source) WatchPaths() []string {
	var out []string
	for _, d := range dirs(s.root) {
		out = append(out, s.root.Path(d.host))
	}
	return append(out, s.root.Path("/opt"))
}

// Collect implements source.Source. A host where none of the directories exists is not one
// this source reads: it is not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	p := pass{src: s, users: map[int]string{}}
	for _, a := range source.Accounts(s.root) {
		if _, ok := p.users[a.UID]; !ok { // the first account of a uid names it, as getpwuid finds it
			p.users[a.UID] = a.Name
		}
	}
	present := false
	for _, d := range dirs(s.root) {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		present = p.readDir(ctx, d) || present
	}
	if !present {
		return res, fmt.Errorf("gobin: %w", source.ErrNotPresent)
	}
	res.Software, res.Skipped = merge(p.pkgs), p.skipped
	return res, nil
}

// pass is the state of one Collect.
type pass struct {
	src     *Source
	users   map[int]string
	pkgs    []model.Package
	read    int
	skipped int
}

// readDir reads the binaries of one directory and reports whether it exists.
func (p *pass) readDir(ctx context.Context, d binDir) bool {
	real, err := p.src.root.Resolve(d.host)
	if err != nil {
		return false
	}
	f, err := os.Open(real)
	if err != nil {
		return !hostfs.NotPresent(err)
	}
	defer f.Close()
	entries, err := f.ReadDir(MaxEntries)
	if err != nil && len(entries) == 0 {
		return true
	}
	if len(entries) == MaxEntries {
		p.skipped++ // the rest of a directory of more entries than any bin directory has
	}
	for i, e := range entries {
		if i%64 == 0 && ctx.Err() != nil {
			return true
		}
		if !e.Type().IsRegular() {
			continue // links are not followed, subdirectories not entered
		}
		if p.read >= MaxBinaries {
			p.skipped++
			continue
		}
		pkg, ok, bad := p.binary(real+"/"+e.Name(), d.host+"/"+e.Name(), d)
		p.skipped += bad
		if ok {
			p.pkgs = append(p.pkgs, pkg)
		}
	}
	return true
}

// binary makes the package of one file. ok is false when it is not a Go binary this source
// reports; bad counts what was skipped as malformed (unreadable, corrupt build information,
// labels left out).
func (p *pass) binary(real, host string, d binDir) (pkg model.Package, ok bool, bad int) {
	f, fi, err := source.OpenRegular(real)
	if err != nil {
		return pkg, false, 1
	}
	defer f.Close()
	if fi.Mode()&0o111 == 0 {
		return pkg, false, 0
	}
	p.read++
	bi, err := Read(f, fi.Size())
	if err != nil {
		if err == ErrNotGo {
			return pkg, false, 0
		}
		return pkg, false, 1
	}
	if !Reports(bi.Main.Path, bi.Path) {
		return pkg, false, 0 // no main module: the files source reports it
	}
	pkg, ok = p.pkg(bi, host, d)
	if !ok {
		return pkg, false, 1
	}
	if d.user != "" {
		pkg.User = p.owner(fi.Sys())
	}
	return pkg, true, p.labels(&pkg, bi)
}

// pkg makes the package a binary's build information describes.
func (p *pass) pkg(bi *Info, host string, d binDir) (model.Package, bool) {
	pkg := model.Package{Source: sourceFormat, InstallInfo: model.InstallInfo{
		Location: source.Text([]byte(host), protocol.MaxFieldLen)}}
	switch {
	case bi.Main.Path != "":
		pkg.Name, pkg.Version = bi.Main.Path, bi.Main.Version
		if pkg.Version == "(devel)" || pkg.Version == "" {
			if r := bi.setting("vcs.revision"); r != "" {
				pkg.Version = r[:min(len(r), 12)]
			} else {
				pkg.Version = "(devel)"
			}
		}
	case Reports("", bi.Path):
		pkg.Name = ToolchainName
		pkg.Version = strings.TrimPrefix(strings.Fields(bi.GoVersion + " ")[0], "go")
		if goroot := path.Dir(d.host); path.Base(d.host) == "bin" && p.src.root.Exists(goroot+"/VERSION") {
			pkg.Location = goroot
		}
	default:
		return pkg, false
	}
	if !validName(pkg.Name) || pkg.Version == "" || len(pkg.Version) > 128 || protocol.CleanText(pkg.Version, 128) != pkg.Version {
		return pkg, false
	}
	return pkg, true
}

// labels sets the package's labels and returns how many were left out.
func (p *pass) labels(pkg *model.Package, bi *Info) int {
	l := map[string]string{"go_version": bi.GoVersion}
	if pkg.Name != ToolchainName {
		if bi.Path != bi.Main.Path {
			l["path"] = bi.Path
		}
		for _, k := range []string{"vcs.revision", "vcs.modified"} {
			if v := bi.setting(k); v != "" {
				l[k] = v
			}
		}
	}
	var dropped int
	pkg.Labels, dropped = source.Labels(l)
	return dropped
}

// owner names the owner of a file through the host's accounts, else "uid:N".
func (p *pass) owner(sys any) string {
	uid, ok := uidOf(sys)
	if !ok {
		return ""
	}
	if n, ok := p.users[int(uid)]; ok {
		return n
	}
	return "uid:" + strconv.FormatUint(uint64(uid), 10)
}

// validName checks a module path: printable ASCII without spaces, at most MaxNameLen bytes.
func validName(s string) bool {
	if s == "" || len(s) > protocol.MaxNameLen {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// merge sorts the packages and keeps one per package key: the first in location order,
// counting the others at other locations as its copies (the toolchain's commands share one).
func merge(pkgs []model.Package) []model.Package {
	slices.SortFunc(pkgs, func(a, b model.Package) int {
		if c := model.ComparePackages(a, b); c != 0 {
			return c
		}
		return strings.Compare(a.Location, b.Location)
	})
	out := pkgs[:0]
	last := ""
	for _, p := range pkgs {
		if n := len(out); n > 0 && model.ComparePackages(out[n-1], p) == 0 {
			if p.Location != last {
				out[n-1].Copies++
			}
			last = p.Location
			continue
		}
		out, last = append(out, p), p.Location
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

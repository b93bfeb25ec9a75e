package rpm

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// yum (RHEL and CentOS 7, Amazon Linux 2) keeps what it knows of each installed package in
// its yumdb (yum/rpmsack.py, RPMDBAdditionalData): a directory a package,
//
//	/var/lib/yum/yumdb/<first letter of the name>/<header SHA-1>-<name>-<version>-<release>-<arch>/
//
// holding one small file a value: reason ("user", or "dep" for a dependency), installed_by
// (the audit login uid of who first installed the package, which yum carries over its
// upgrades), changed_by (that of who upgraded, downgraded or reinstalled it to this version)
// and command_line (the arguments of the yum command that put this version there). It is read
// for the packages dnf says nothing of.
const (
	yumdbPath = "/var/lib/yum/yumdb"
	// maxYumdbDirs bounds the package directories looked at; maxYumdbValue each value read.
	maxYumdbDirs  = 1 << 17
	maxYumdbValue = 64 << 10

	evidenceYumdb = "yumdb"
)

// yumdbInfo fills the InstallInfo fields of the packages in x that dnf did not attribute from
// the yumdb under root, and returns how many of its directories or values could not be read.
func yumdbInfo(root hostfs.Root, x *pkgIndex, names *map[int64]string) (skipped int) {
	// The directory is resolved once; below it, no link is followed: the letters and package
	// directories are real directories (os.ReadDir's entries do not follow links), and the
	// values are opened without following one.
	base, err := root.Resolve(yumdbPath)
	var letters []os.DirEntry
	if err == nil {
		letters, err = os.ReadDir(base)
	}
	if err != nil {
		if !hostfs.NotPresent(err) {
			skipped++
		}
		return skipped
	}
	// Installed packages by yum's directory name less its SHA-1: name-version-release-arch,
	// the name as yum sanitizes it, the epoch left out.
	want := make(map[string]int, len(x.pkgs))
	for i := range x.pkgs {
		if p := &x.pkgs[i]; p.Evidence == "" {
			want[yumdbKey(p)] = i
		}
	}
	seen := 0
	for _, l := range letters {
		if !l.IsDir() || seen >= maxYumdbDirs {
			continue
		}
		dir := filepath.Join(base, l.Name())
		pkgs, err := os.ReadDir(dir)
		if err != nil {
			skipped++
			continue
		}
		for _, d := range pkgs {
			if seen++; seen > maxYumdbDirs {
				skipped++
				break
			}
			_, key, ok := strings.Cut(d.Name(), "-")
			if !ok || !d.IsDir() {
				skipped++
				continue
			}
			i, ok := want[key]
			if !ok {
				continue // a package no longer installed, or known to dnf
			}
			delete(want, key) // a second directory for it (a rebuilt package) is passed over
			if *names == nil {
				*names = passwdNames(root)
			}
			skipped += yumdbPackage(filepath.Join(dir, d.Name()), &x.pkgs[i], *names)
		}
	}
	return skipped
}

// yumdbKey is the part of a package's yumdb directory name after its SHA-1.
func yumdbKey(p *model.Package) string {
	v := p.Version
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	name := strings.NewReplacer("/", "", "~", "").Replace(p.Name)
	return name + "-" + v + "-" + p.Arch
}

// yumdbPackage reads the values of one package's directory (its real path) into p.
func yumdbPackage(dir string, p *model.Package, names map[int64]string) (skipped int) {
	var vals [4][]byte
	for j, f := range [...]string{"reason", "installed_by", "changed_by", "command_line"} {
		var err error
		if vals[j], err = source.ReadRegular(filepath.Join(dir, f), maxYumdbValue); err != nil && !hostfs.NotPresent(err) {
			skipped++
		}
	}
	reason, by, changed, cmd := vals[0], vals[1], vals[2], vals[3]
	switch string(bytes.TrimSpace(reason)) {
	case "user", "group":
		p.Requested = model.RequestedExplicit
	case "dep":
		p.Requested = model.RequestedDependency
	}
	if len(changed) > 0 {
		by = changed // who put this version there
	}
	if len(by) > 0 {
		uid, err := strconv.ParseInt(string(bytes.TrimSpace(by)), 10, 64)
		if err != nil {
			skipped++
		} else {
			p.InstalledBy = installedBy(uid, names)
		}
	}
	if len(cmd) > 0 {
		p.InstallCommand = source.Text(cmd, protocol.MaxFieldLen)
	}
	if p.Requested != "" || p.InstalledBy != "" || p.InstallCommand != "" {
		p.Evidence = evidenceYumdb
	}
	return skipped
}

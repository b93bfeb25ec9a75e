package brew

import (
	"context"
	"os"
	"path"
	"slices"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// isDir accepts a directory entry that is a directory itself, not a link to one.
func isDir(e os.DirEntry) bool { return e.IsDir() && validName(e.Name()) }

// formulae reads the kegs of one prefix's Cellar, whose real path is cellar.
func (p *pass) formulae(ctx context.Context, pre prefix, cellar, owner string) {
	names, skipped, err := listDir(cellar, MaxPackages, isDir)
	p.skipped += skipped
	if err != nil {
		p.skipped++
		return
	}
	optDir, optErr := p.src.root.Resolve(pre.host + "/opt")
	for i, name := range names {
		if i%64 == 0 && ctx.Err() != nil {
			return
		}
		versions, skipped, err := listDir(cellar+"/"+name, maxEntries, isDir)
		p.skipped += skipped
		if err != nil {
			p.skipped++
			continue
		}
		linked := ""
		if optErr == nil {
			var bad bool
			linked, bad = optTarget(optDir+"/"+name, pre.host, name)
			if bad {
				p.skipped++
			}
		}
		if linked != "" && slices.Contains(versions, linked) {
			versions = []string{linked}
		} else {
			linked = ""
		}
		for _, v := range versions {
			if p.full() {
				return
			}
			p.pkgs = append(p.pkgs, p.keg(pre, cellar, name, v, owner, linked != ""))
		}
	}
}

// optTarget reads the link opt/<name> (real is its real path) and returns the keg version
// it points to: "" when there is no such link. A link that points anywhere but a keg of the
// formula, in this prefix's Cellar, is bad (and not followed).
func optTarget(real, prefixHost, name string) (version string, bad bool) {
	fi, err := os.Lstat(real)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return "", err == nil || !hostfs.NotPresent(err)
	}
	t, err := os.Readlink(real)
	if err != nil {
		return "", true
	}
	if !path.IsAbs(t) {
		t = path.Join(prefixHost+"/opt", t)
	}
	t = path.Clean(t)
	if path.Dir(t) != prefixHost+"/Cellar/"+name || !validName(path.Base(t)) {
		return "", true
	}
	return path.Base(t), false
}

// keg makes the package of the keg Cellar/<name>/<version>. Its receipt fills what it
// records; a keg without one (Homebrew reads it as an empty tab) is a package too, and one
// whose receipt cannot be read or parsed is counted among the skipped records.
func (p *pass) keg(pre prefix, cellar, name, version, owner string, linked bool) model.Package {
	pkg := model.Package{
		Source:  formulaFormat,
		Name:    name,
		Version: version,
		InstallInfo: model.InstallInfo{
			Location:    source.Text([]byte(pre.host+"/Cellar/"+name+"/"+version), protocol.MaxFieldLen),
			User:        pre.user,
			InstalledBy: owner,
			Evidence:    evidence,
		},
	}
	labels := map[string]string{}
	if !linked {
		labels["opt_link"] = "absent"
	}
	b, err := source.ReadRegular(cellar+"/"+name+"/"+version+"/"+receipt, MaxReceipt)
	if err != nil {
		if !hostfs.NotPresent(err) {
			p.skipped++
		}
		pkg.Labels, _ = source.Labels(labels)
		return pkg
	}
	r, err := ParseReceipt(b)
	if err != nil {
		p.skipped++
		pkg.Labels, _ = source.Labels(labels)
		return pkg
	}
	pkg.Name = qualified(name, r.Tap, "homebrew/core")
	pkg.Requested, pkg.InstallTime = r.Requested(), r.Time
	if validArch(r.Arch) {
		pkg.Arch = r.Arch
	}
	receiptLabels(labels, r)
	var dropped int
	pkg.Labels, dropped = source.Labels(labels)
	p.skipped += dropped
	return pkg
}

// receiptLabels adds what a receipt records that has no field of its own.
func receiptLabels(labels map[string]string, r Receipt) {
	for k, v := range map[string]string{"tap": r.Tap, "stable": r.Stable, "homebrew_version": r.HomebrewVersion} {
		if v != "" {
			labels[k] = v
		}
	}
	for k, v := range map[string]*bool{"poured_from_bottle": r.PouredFromBottle, "built_as_bottle": r.BuiltAsBottle} {
		if v != nil {
			labels[k] = boolText(*v)
		}
	}
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// validArch checks an architecture as Homebrew records it: "arm64", "x86_64".
func validArch(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

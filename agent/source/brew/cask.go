package brew

import (
	"context"
	"os"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// timestampLayout is Cask::Metadata::TIMESTAMP_FORMAT, "%Y%m%d%H%M%S.%L", which brew writes
// in UTC.
const timestampLayout = "20060102150405.000"

// casks reads the casks of one prefix's Caskroom, whose real path is room.
func (p *pass) casks(ctx context.Context, pre prefix, room, owner string) {
	tokens, skipped, err := listDir(room, MaxPackages, isDir)
	p.skipped += skipped
	if err != nil {
		p.skipped++
		return
	}
	for i, token := range tokens {
		if i%64 == 0 && ctx.Err() != nil {
			return
		}
		for _, pkg := range p.cask(pre, room+"/"+token, token, owner) {
			if p.full() {
				return
			}
			p.pkgs = append(p.pkgs, pkg)
		}
	}
}

// installed is what a cask's .metadata says of its installed version.
type installed struct {
	version, stamp string // the version directory and the newest timestamp in it
}

// cask makes the packages of Caskroom/<token> (dir is its real path): the version its
// newest saved definition is of, or, without a .metadata directory, each version directory.
func (p *pass) cask(pre prefix, dir, token, owner string) []model.Package {
	base := model.Package{
		Source: caskFormat,
		Name:   token,
		InstallInfo: model.InstallInfo{
			User:        pre.user,
			InstalledBy: owner,
			Evidence:    evidence,
		},
	}
	labels := map[string]string{}
	in, ok := p.newest(dir + "/.metadata")
	if !ok {
		versions, skipped, err := listDir(dir, maxEntries, isDir)
		p.skipped += skipped
		if err != nil {
			p.skipped++
			return nil
		}
		labels["metadata"] = "absent"
		var out []model.Package
		for _, v := range versions {
			pkg := base
			pkg.Version, pkg.Location = v, location(pre, token, v)
			pkg.Labels, _ = source.Labels(labels)
			out = append(out, pkg)
		}
		return out
	}
	pkg := base
	pkg.Version, pkg.Location = in.version, location(pre, token, in.version)
	if t, err := time.Parse(timestampLayout, in.stamp); err == nil {
		pkg.InstallTime = t.UTC()
	}
	casks := dir + "/.metadata/" + in.version + "/" + in.stamp + "/Casks/" + token
	if c, ok := p.caskfile(casks); ok {
		pkg.Name = qualified(token, c.Tap, "homebrew/cask")
		for k, v := range map[string]string{"tap": c.Tap, "app_name": c.Name, "desc": c.Desc} {
			if v != "" {
				labels[k] = v
			}
		}
		if c.AutoUpdates {
			labels["auto_updates"] = "true"
		}
	}
	if b, err := source.ReadRegular(dir+"/.metadata/"+receipt, MaxReceipt); err == nil {
		if r, err := ParseReceipt(b); err == nil {
			pkg.Requested = r.Requested()
			if !r.Time.IsZero() {
				pkg.InstallTime = r.Time
			}
			if r.HomebrewVersion != "" {
				labels["homebrew_version"] = r.HomebrewVersion
			}
		} else {
			p.skipped++
		}
	} else if !hostfs.NotPresent(err) {
		p.skipped++
	}
	var dropped int
	pkg.Labels, dropped = source.Labels(labels)
	p.skipped += dropped
	return []model.Package{pkg}
}

func location(pre prefix, token, version string) string {
	return source.Text([]byte(pre.host+"/Caskroom/"+token+"/"+version), protocol.MaxFieldLen)
}

// newest finds, in a cask's .metadata directory (meta is its real path), the version
// directory holding the newest timestamp directory, as Cask#installed_caskfile does.
func (p *pass) newest(meta string) (installed, bool) {
	versions, skipped, err := listDir(meta, maxEntries, isDir)
	if err != nil {
		return installed{}, false
	}
	p.skipped += skipped
	var best installed
	for _, v := range versions {
		stamps, skipped, err := listDir(meta+"/"+v, maxEntries, func(e os.DirEntry) bool {
			_, err := time.Parse(timestampLayout, e.Name())
			return e.IsDir() && err == nil
		})
		p.skipped += skipped
		if err != nil || len(stamps) == 0 {
			continue
		}
		if s := stamps[len(stamps)-1]; s > best.stamp {
			best = installed{version: v, stamp: s}
		}
	}
	return best, best.version != ""
}

// caskfile reads the definition saved as casks+".json" (".internal.json", ".rb"): false
// when there is none, or none that can be read (counted).
func (p *pass) caskfile(casks string) (Caskfile, bool) {
	for _, ext := range []string{".json", ".internal.json", ".rb"} {
		b, err := source.ReadRegular(casks+ext, MaxReceipt)
		if hostfs.NotPresent(err) {
			continue
		}
		if err != nil {
			p.skipped++
			return Caskfile{}, false
		}
		if ext == ".rb" {
			return ParseCaskRB(b), true
		}
		c, err := ParseCaskJSON(b)
		if err != nil {
			p.skipped++
			return Caskfile{}, false
		}
		return c, true
	}
	return Caskfile{}, false
}

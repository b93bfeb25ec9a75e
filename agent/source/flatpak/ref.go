package flatpak

import (
	"context"
	"os"
	"strings"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// reader reads the refs of one installation, whose real path (under the host root) is real.
type reader struct {
	inst    installation
	real    string
	remotes map[string]string
}

// refs reads every ref of the installation, app and runtime, within budget refs; skipped
// counts those that could not be read, and what could not be read of the others.
func (r reader) refs(ctx context.Context, budget *int) (out []model.Package, skipped int) {
	for _, kind := range []string{"app", "runtime"} {
		if fi, err := os.Lstat(r.real + "/" + kind); err != nil || !fi.IsDir() {
			continue // none, or a link: the installation's own directories only
		}
		ids, err := listDir(r.real+"/"+kind, MaxEntries, isDir)
		if err != nil {
			continue
		}
		for _, id := range ids {
			if ctx.Err() != nil {
				return out, skipped
			}
			if !validID(id) || strings.Count(id, ".") < 2 {
				skipped++
				continue
			}
			current := r.current(kind, id)
			arches, _ := listDir(r.real+"/"+kind+"/"+id, MaxEntries, isDir)
			for _, arch := range arches {
				branches, _ := listDir(r.real+"/"+kind+"/"+id+"/"+arch, MaxEntries, isDir)
				for _, branch := range branches {
					if *budget <= 0 {
						skipped++
						continue
					}
					*budget--
					p, n, ok := r.ref(kind, id, arch, branch, current == arch+"/"+branch)
					skipped += n
					if ok {
						out = append(out, p)
					}
				}
			}
		}
	}
	return out, skipped
}

// current returns the arch/branch an app's "current" link names: the branch `flatpak run`
// starts.
func (r reader) current(kind, id string) string {
	if kind != "app" {
		return ""
	}
	t, err := os.Readlink(r.real + "/app/" + id + "/current")
	if err != nil || strings.Count(t, "/") != 1 || strings.Contains(t, "..") || strings.HasPrefix(t, "/") {
		return ""
	}
	return t
}

// ref reads one ref. ok is false when it has no readable deployment (skipped counts it);
// otherwise skipped counts the metadata and metainfo that could not be read.
func (r reader) ref(kind, id, arch, branch string, current bool) (p model.Package, skipped int, ok bool) {
	if !validName(arch) || !validBranch(branch) {
		return p, 1, false
	}
	refDir := r.real + "/" + kind + "/" + id + "/" + arch + "/" + branch
	commit, err := os.Readlink(refDir + "/active")
	if err != nil || !validName(commit) {
		return p, 1, false // not deployed, or a link that names no directory beside it
	}
	dir := refDir + "/" + commit
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return p, 1, false
	}
	b, err := source.ReadRegular(dir+"/deploy", MaxDeploy)
	if err != nil {
		return p, 1, false
	}
	d, err := ParseDeploy(b)
	if err != nil {
		return p, 1, false
	}
	meta, err := readKeyFile(dir + "/metadata")
	group := map[string]string{"app": "Application", "runtime": "Runtime"}[kind]
	if err != nil || meta.Get(group, "name") != id {
		skipped++
	}
	var mi Metainfo
	if d.Strings["appdata-version"] == "" {
		var bad bool
		mi, bad = readMetainfo(dir, id)
		skipped += boolInt(bad)
	}
	host := r.inst.host + "/" + kind + "/" + id + "/" + arch + "/" + branch
	p = model.Package{Source: sourceFormat, Name: id, Arch: arch, InstallTime: d.Timestamp, InstalledSize: d.InstalledSize}
	p.Location = source.Text([]byte(host), protocol.MaxFieldLen)
	p.User = r.inst.user
	p.Platform = kind == "runtime"
	p.Version = first(d.Strings["appdata-version"], mi.Version)
	if p.Version == "" && kind == "runtime" {
		p.Version = branch // a runtime's branch is its version (23.08)
	}
	if p.Version == "" {
		p.Version = d.Commit[:min(12, len(d.Commit))]
	}
	if p.Version == "" {
		p.Version = commit[:min(12, len(commit))]
	}
	p.Version = source.Text([]byte(p.Version), protocol.MaxFieldLen)
	p.Summary = source.Text([]byte(first(d.Strings["appdata-summary"], mi.Summary)), protocol.MaxFieldLen)
	p.License = source.Text([]byte(first(d.Strings["appdata-license"], mi.License)), protocol.MaxFieldLen)
	p.Vendor = source.Text([]byte(mi.Developer), protocol.MaxFieldLen)
	labels := map[string]string{"kind": kind, "branch": branch, "commit": first(d.Commit, commit),
		"installation": r.inst.id, "origin": d.Origin, "origin_url": r.remotes[d.Origin],
		"runtime":      first(d.Strings["runtime"], meta.Get(group, "runtime")),
		"extension_of": first(d.Strings["extension-of"], meta.Get("ExtensionOf", "ref")),
		"title":        first(d.Strings["appdata-name"], mi.Name),
		"eol":          d.Strings["eol"], "eol_rebase": d.Strings["eolr"],
		"subpaths": strings.Join(d.Subpaths, ","),
	}
	if current {
		labels["current"] = "true"
	}
	for k, v := range labels {
		if v == "" {
			delete(labels, k)
		}
	}
	var dropped int
	p.Labels, dropped = source.Labels(labels)
	return p, skipped + dropped, true
}

// readMetainfo reads the AppStream file of the component id in a deployment:
// files/share/metainfo/<id>.metainfo.xml, else <id>.appdata.xml there or in the older
// files/share/appdata. bad is true when none names the component but one was there: not
// AppStream, or another component's.
func readMetainfo(dir, id string) (m Metainfo, bad bool) {
	for _, rel := range []string{"metainfo/" + id + ".metainfo.xml", "metainfo/" + id + ".appdata.xml", "appdata/" + id + ".appdata.xml"} {
		real, ok := within(dir, "files/share/"+rel)
		if !ok {
			continue
		}
		b, err := source.ReadRegular(real, MaxMetainfo)
		if err != nil {
			bad = bad || !hostfs.NotPresent(err)
			continue
		}
		if m, err := ParseMetainfo(b); err == nil && m.ID == id {
			return m, false
		}
		bad = true
	}
	return Metainfo{}, bad
}

// within returns dir/rel when every directory on the way is a directory, not a link: the
// files of a deployment are read where they are, never through a link out of it.
func within(dir, rel string) (string, bool) {
	p := dir
	elems := strings.Split(rel, "/")
	for _, e := range elems[:len(elems)-1] {
		p += "/" + e
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
			return "", false
		}
	}
	return p + "/" + elems[len(elems)-1], true
}

func readKeyFile(real string) (KeyFile, error) {
	b, err := source.ReadRegular(real, MaxKeyFile)
	if err != nil {
		return nil, err
	}
	return ParseKeyFile(b)
}

func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// validID checks dot-separated elements of letters, digits, "_" and "-", none empty or
// starting with a digit, at most 255 bytes in all: a ref's ID as flatpak allows it (which
// also needs three elements or more, checked where refs are listed) or an installation's.
func validID(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for e := range strings.SplitSeq(s, ".") {
		if e == "" || e[0] >= '0' && e[0] <= '9' || !validName(e) {
			return false
		}
	}
	return true
}

// validName checks an arch, a commit directory or an ID element: letters, digits, "_", "-".
func validName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validBranch checks a branch: letters, digits, "_", "-" and ".", not starting with ".".
func validBranch(s string) bool {
	return s != "" && s[0] != '.' && validName(strings.ReplaceAll(s, ".", "_"))
}

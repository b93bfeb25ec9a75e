// Package launchd lists the jobs launchd, the service manager of macOS, loads: the property
// lists of its job directories, each a dict naming the job (Label) and what it runs
// (Program, else the first of ProgramArguments). It reads, under the host root:
//
//	/System/Library/LaunchDaemons   Apple's daemons (origin "system")
//	/System/Library/LaunchAgents    Apple's agents, run in each user's session
//	/Library/LaunchDaemons          third-party daemons (origin "local")
//	/Library/LaunchAgents           third-party agents, run in each user's session
//	/Users/<user>/Library/LaunchAgents  a user's own agents (origin "user")
//
// every file ending in .plist, dot-files included (launchd loads a hidden job as well as
// any other), XML or binary. A job is a model.Service of manager "launchd" named by its
// Label (a user's own agent prefixed with the user: alice/com.example.sync). Its unit file
// state is "disabled" when the job sets Disabled, else "enabled" (launchd loads every job
// of these directories); its user is UserName for a daemon (empty: root) and the home's user
// for a user's agent; labels hold the program, kind (daemon, agent), origin, run_at_load and
// keep_alive ("true", or "conditional" for a KeepAlive dict).
//
// launchctl enable and disable record an override of Disabled that launchd goes by instead:
// /private/var/db/com.apple.xpc.launchd/disabled.plist for the system domain's daemons,
// disabled.<uid>.plist for a user's agents (the uid owning the home). Both are read; an
// agent of /Library/LaunchAgents or /System/Library/LaunchAgents runs in each user's
// session, whose overrides differ, and keeps its own Disabled key. Which jobs run is not
// read: launchd says it only to launchctl.
package launchd

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
	manager = "launchd"
	// MaxPlist bounds one job's property list: a job takes at most a few KiB.
	MaxPlist = 1 << 20
	// MaxJobs bounds the jobs read per pass; macOS itself has about 1,000.
	MaxJobs = 20000
	// maxUsers bounds the homes of /Users read.
	maxUsers = 1000
)

// jobDir is one directory of jobs: its host path, the kind and origin of its jobs, and the
// user whose agents they are.
type jobDir struct {
	path, kind, origin, user string
	uid                      int // the home's owner for a user's agents, else -1
}

// systemDirs are the job directories outside the homes, in launchd's order.
var systemDirs = []jobDir{
	{"/System/Library/LaunchDaemons", "daemon", "system", "", -1},
	{"/System/Library/LaunchAgents", "agent", "system", "", -1},
	{"/Library/LaunchDaemons", "daemon", "local", "", -1},
	{"/Library/LaunchAgents", "agent", "local", "", -1},
}

// Source reads launchd's jobs.
type Source struct{ root hostfs.Root }

// New returns a launchd source reading under root.
func New(root hostfs.Root) *Source {
	if root == "" {
		root = "/"
	}
	return &Source{root: root}
}

// Name implements source.Source.
func (*Source) Name() string { return manager }

// ServiceManagers implements source.ServiceSource.
func (*Source) ServiceManagers() []string { return []string{manager} }

// dirs returns the job directories: the system ones, then each /Users home's.
func (s *Source) dirs() []jobDir {
	out := slices.Clone(systemDirs)
	real, err := s.root.Resolve("/Users")
	if err != nil {
		return out
	}
	f, err := os.Open(real)
	if err != nil {
		return out
	}
	defer f.Close()
	ents, _ := f.ReadDir(4 * maxUsers)
	var homes []jobDir
	for _, e := range ents {
		if n := e.Name(); e.IsDir() && n != "Shared" && !strings.HasPrefix(n, ".") && len(homes) < maxUsers {
			d := jobDir{"/Users/" + n + "/Library/LaunchAgents", "agent", "user", n, -1}
			if fi, err := e.Info(); err == nil {
				if uid, ok := fileUID(fi); ok {
					d.uid = uid
				}
			}
			homes = append(homes, d)
		}
	}
	slices.SortFunc(homes, func(a, b jobDir) int { return strings.Compare(a.path, b.path) })
	return append(out, homes...)
}

// WatchPaths implements source.Watcher: the job directories, where installers put and
// remove their jobs.
func (s *Source) WatchPaths() []string {
	var out []string
	for _, d := range s.dirs() {
		out = append(out, s.root.Path(d.path))
	}
	return out
}

// Collect implements source.Source. A host with none of the job directories is not macOS:
// the source is not present there.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	present := false
	seen := map[string]bool{}
	overrides := map[int]map[string]bool{}
	for _, d := range s.dirs() {
		if ctx.Err() != nil {
			return source.Result{}, ctx.Err()
		}
		real, err := s.root.Resolve(d.path)
		if err != nil {
			continue
		}
		names, skipped, err := plistNames(real)
		if err != nil {
			if !hostfs.NotPresent(err) {
				present = true
				res.Skipped++
			}
			continue
		}
		present = true
		res.Skipped += skipped
		for _, name := range names {
			if len(res.Services) >= MaxJobs {
				res.Skipped++
				continue
			}
			svc, ok := s.job(d, real, name)
			if !ok || seen[svc.Name] { // launchd refuses a second job of a label
				res.Skipped++
				continue
			}
			if d.kind == "daemon" || d.uid >= 0 {
				if _, ok := overrides[d.uid]; !ok {
					overrides[d.uid] = s.overrides(d.uid, &res.Skipped)
				}
				label := strings.TrimPrefix(svc.Name, d.user+"/")
				if disabled, ok := overrides[d.uid][label]; ok {
					svc.UnitFileState = map[bool]string{true: "disabled", false: "enabled"}[disabled]
				}
			}
			seen[svc.Name] = true
			res.Services = append(res.Services, svc)
		}
	}
	if !present {
		return source.Result{}, fmt.Errorf("launchd: %w", source.ErrNotPresent)
	}
	slices.SortFunc(res.Services, model.CompareServices)
	return res, nil
}

// overridesDir holds launchd's records of launchctl enable and disable.
const overridesDir = "/private/var/db/com.apple.xpc.launchd"

// overrides reads the Disabled overrides of the system domain (uid -1) or of a user's
// domain: label to disabled. A file that is not such a dict is counted.
func (s *Source) overrides(uid int, skipped *int) map[string]bool {
	name := "/disabled.plist"
	if uid >= 0 {
		name = "/disabled." + strconv.Itoa(uid) + ".plist"
	}
	real, err := s.root.Resolve(overridesDir + name)
	if err != nil {
		return nil
	}
	b, err := source.ReadRegular(real, MaxPlist)
	if err != nil {
		if !hostfs.NotPresent(err) {
			*skipped++
		}
		return nil
	}
	out, err := ParseOverrides(b)
	if err != nil {
		*skipped++
	}
	return out
}

// plistNames lists the .plist files of the directory real, sorted, at most MaxJobs (of
// 4×MaxJobs entries read), with the count of the entries that end in .plist but are not
// regular files or links.
func plistNames(real string) (names []string, skipped int, err error) {
	f, err := os.Open(real)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	ents, err := f.ReadDir(4 * MaxJobs)
	if err != nil && len(ents) == 0 {
		return nil, 0, err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".plist") {
			continue
		}
		if t := e.Type(); !t.IsRegular() && t&os.ModeSymlink == 0 {
			skipped++
			continue
		}
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, skipped, nil
}

// job reads the job of the file name in the directory d (real is its real path); false
// when the file cannot be read or is not a job.
func (s *Source) job(d jobDir, real, name string) (model.Service, bool) {
	p := real + "/" + name
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		// A link is followed inside the host root only.
		r, err := s.root.Resolve(d.path + "/" + name)
		if err != nil {
			return model.Service{}, false
		}
		p = r
	}
	b, err := source.ReadRegular(p, MaxPlist)
	if err != nil {
		return model.Service{}, false
	}
	j, err := ParseJob(b)
	if err != nil {
		return model.Service{}, false
	}
	svc := model.Service{
		Manager:       manager,
		Name:          j.Label,
		UnitFileState: "enabled",
		Path:          source.Text([]byte(path.Join(d.path, name)), protocol.MaxFieldLen),
	}
	if j.Disabled {
		svc.UnitFileState = "disabled"
	}
	switch {
	case d.user != "":
		svc.Name = d.user + "/" + j.Label
		svc.User = d.user
	case d.kind == "daemon" && j.UserName != "root":
		svc.User = j.UserName
	}
	labels := map[string]string{"kind": d.kind, "origin": d.origin}
	if j.Program != "" {
		labels["program"] = j.Program
	}
	if j.RunAtLoad {
		labels["run_at_load"] = "true"
	}
	if j.KeepAlive != "" {
		labels["keep_alive"] = j.KeepAlive
	}
	svc.Labels, _ = source.Labels(labels)
	svc.Name = source.Text([]byte(svc.Name), protocol.MaxNameLen)
	svc.User = source.Text([]byte(svc.User), protocol.MaxFieldLen)
	return svc, true
}

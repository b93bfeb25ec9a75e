// Package systemd lists the host's systemd units that run or start code: services (.service),
// socket-activated services (.socket) and timers (.timer). Targets, mounts, slices, devices
// and paths own no code and are left out.
//
// It reads, under the host root, the unit directories in systemd's own order, first found
// wins for a name:
//
//	/run/systemd/transient          (state "transient")
//	/run/systemd/generator.early    (state "generated")
//	/etc/systemd/system
//	/run/systemd/system
//	/run/systemd/generator          (state "generated")
//	/usr/local/lib/systemd/system
//	/usr/lib/systemd/system
//	/lib/systemd/system             (skipped when it is /usr/lib/systemd/system, usrmerge)
//	/run/systemd/generator.late     (state "generated")
//
// and the *.wants/ and *.requires/ link directories of /etc/systemd/system (state "enabled")
// and /run/systemd/system ("enabled-runtime"). Drop-in directories (*.d/) are not read. The
// unit file state is the one "systemctl is-enabled" prints: masked, enabled, enabled-runtime,
// alias, static, indirect, disabled, generated or transient.
//
// When the service manager answers on <root>/run/systemd/private (root only) or the system
// bus at <root>/run/dbus/system_bus_socket, one ListUnits call adds each loaded unit's active
// and sub state, and the loaded units that have no unit file. When it does not, the states
// stay empty and the source still succeeds.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
)

// DefaultBusTimeout bounds the whole conversation with the service manager.
const DefaultBusTimeout = 2 * time.Second

// maxUnitName is systemd's UNIT_NAME_MAX less its terminating NUL.
const maxUnitName = 255

// Options configures a Source. The zero value reads "/" and logs nowhere.
type Options struct {
	// Root is the host root; empty means "/".
	Root hostfs.Root
	// Logger receives debug notes, such as the service manager being unreachable.
	Logger *slog.Logger
	// BusTimeout bounds the D-Bus call; zero means DefaultBusTimeout, negative skips the bus.
	BusTimeout time.Duration
}

// Source lists systemd units.
type Source struct {
	root    hostfs.Root
	log     *slog.Logger
	timeout time.Duration
}

// New returns a systemd source reading under opts.Root.
func New(opts Options) *Source {
	s := &Source{root: opts.Root, log: opts.Logger, timeout: opts.BusTimeout}
	if s.root == "" {
		s.root = "/"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("source", s.Name())
	if s.timeout == 0 {
		s.timeout = DefaultBusTimeout
	}
	return s
}

// Name returns "systemd".
func (s *Source) Name() string { return "systemd" }

// ServiceManagers implements source.ServiceSource: the units it reads are systemd's.
func (*Source) ServiceManagers() []string { return []string{"systemd"} }

// WatchPaths returns the unit directories whose change means units were added, removed,
// enabled, disabled or masked: the administrator's and the runtime ones, and the vendor one
// packages install into. Active states change without any file changing; only a new Collect
// sees them.
func (s *Source) WatchPaths() []string {
	dirs := []string{
		"/etc/systemd/system",
		"/etc/systemd/system/multi-user.target.wants",
		"/run/systemd/system",
		"/run/systemd/transient",
		"/usr/lib/systemd/system",
	}
	for i, d := range dirs {
		dirs[i] = s.root.Path(d)
	}
	return dirs
}

// unitDir is one directory of the unit search path.
type unitDir struct {
	path string
	// state, when set, is the unit file state of every unit found here.
	state string
}

// searchPath returns the unit search path in systemd's order of precedence.
func searchPath() []unitDir {
	return []unitDir{
		{"/run/systemd/transient", "transient"},
		{"/run/systemd/generator.early", "generated"},
		{"/etc/systemd/system", ""},
		{"/run/systemd/system", ""},
		{"/run/systemd/generator", "generated"},
		{"/usr/local/lib/systemd/system", ""},
		{"/usr/lib/systemd/system", ""},
		{"/lib/systemd/system", ""},
		{"/run/systemd/generator.late", "generated"},
	}
}

// unitKind tells plain unit names from templates ("getty@.service") and their instances
// ("getty@tty1.service").
type unitKind int

const (
	invalidUnit unitKind = iota
	plainUnit
	templateUnit
	instanceUnit
)

// classify returns the kind of a unit name, invalidUnit for names that are not valid
// .service, .socket or .timer names.
func classify(name string) unitKind {
	if len(name) > maxUnitName {
		return invalidUnit
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		return invalidUnit
	}
	switch name[dot:] {
	case ".service", ".socket", ".timer":
	default:
		return invalidUnit
	}
	prefix := name[:dot]
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == ':' || c == '-' || c == '_' || c == '.' || c == '\\' || c == '@') {
			return invalidUnit
		}
	}
	at := strings.IndexByte(prefix, '@')
	switch {
	case at < 0:
		return plainUnit
	case at == 0 || strings.IndexByte(prefix[at+1:], '@') >= 0:
		return invalidUnit
	case at == len(prefix)-1:
		return templateUnit
	default:
		return instanceUnit
	}
}

// templateOf returns the template name of an instance: "getty@tty1.service" → "getty@.service".
func templateOf(instance string) string {
	at := strings.IndexByte(instance, '@')
	dot := strings.LastIndexByte(instance, '.')
	return instance[:at+1] + instance[dot:]
}

// unit is one unit being assembled.
type unit struct {
	svc model.Service
	// rawDesc is the description before instance specifiers are expanded.
	rawDesc string
	rules   bool
}

// Collect lists the units.
func (s *Source) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	enabled, found, err := s.readLinks()
	if err != nil {
		return res, err
	}
	units, index, present, skipped, err := s.readUnitFiles(enabled)
	res.Skipped = skipped
	if err != nil {
		return res, err
	}
	units = addInstances(units, index, enabled, found)

	var loaded []busUnit
	if s.timeout > 0 {
		loaded, err = s.listUnits(ctx)
		if err != nil {
			s.log.Debug("service manager not reachable, unit states left empty", "err", err)
			loaded = nil
		}
	}
	if !present && loaded == nil {
		return res, fmt.Errorf("systemd unit directories: %w", source.ErrNotPresent)
	}
	units = merge(units, index, loaded)

	res.Services = make([]model.Service, len(units))
	for i := range units {
		res.Services[i] = units[i].svc
	}
	slices.SortFunc(res.Services, func(a, b model.Service) int { return strings.Compare(a.Name, b.Name) })
	return res, nil
}

// readLinks reads the enablement links in the *.wants/ and *.requires/ directories of
// /etc/systemd/system and /run/systemd/system. It returns the state each linked name (and
// the template of a linked instance) gets, and the linked instances in the order found.
func (s *Source) readLinks() (map[string]string, []string, error) {
	enabled := make(map[string]string)
	var instances []string
	for _, d := range [...]struct{ path, state string }{
		{"/etc/systemd/system", "enabled"},
		{"/run/systemd/system", "enabled-runtime"},
	} {
		dir, err := s.root.Resolve(d.path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", d.path, err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			if hostfs.NotPresent(err) {
				continue
			}
			return nil, nil, fmt.Errorf("%s: %w", d.path, err)
		}
		for _, e := range entries {
			n := e.Name()
			if e.Type()&fs.ModeSymlink != 0 {
				// An alias link made by enabling a unit with Alias= ("sshd.service" to
				// ssh.service) enables its target.
				if t, err := os.Readlink(filepath.Join(dir, n)); err == nil && t != "/dev/null" {
					if b := path.Base(t); b != n && classify(b) != invalidUnit {
						mark(enabled, b, d.state)
					}
				}
				continue
			}
			if !e.IsDir() || !(strings.HasSuffix(n, ".wants") || strings.HasSuffix(n, ".requires")) {
				continue
			}
			links, err := os.ReadDir(filepath.Join(dir, n))
			if err != nil {
				continue // raced with a removal, or not readable: nothing enabled from there
			}
			for _, l := range links {
				name := l.Name()
				kind := classify(name)
				if kind == invalidUnit {
					continue
				}
				if _, ok := enabled[name]; !ok && kind == instanceUnit {
					instances = append(instances, name)
				}
				mark(enabled, name, d.state)
				if kind == instanceUnit {
					mark(enabled, templateOf(name), d.state)
				}
				// A link may carry another name than its target ("enable" of an alias).
				if l.Type()&fs.ModeSymlink != 0 {
					if t, err := os.Readlink(filepath.Join(dir, n, name)); err == nil {
						if b := path.Base(t); b != name && classify(b) != invalidUnit {
							mark(enabled, b, d.state)
						}
					}
				}
			}
		}
	}
	return enabled, instances, nil
}

// mark records the first enablement state found for a unit name: /etc before /run.
func mark(enabled map[string]string, name, state string) {
	if _, ok := enabled[name]; !ok {
		enabled[name] = state
	}
}

// readUnitFiles reads the unit search path. present is false when none of its directories
// exists: no systemd on this host.
func (s *Source) readUnitFiles(enabled map[string]string) (units []unit, index map[string]int, present bool, skipped int, err error) {
	index = make(map[string]int)
	var usrLib fs.FileInfo
	for _, d := range searchPath() {
		dir, err := s.root.Resolve(d.path)
		if err != nil {
			return nil, nil, false, skipped, fmt.Errorf("%s: %w", d.path, err)
		}
		if d.path == "/lib/systemd/system" && usrLib != nil {
			if fi, err := os.Stat(dir); err == nil && os.SameFile(fi, usrLib) {
				continue
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			if hostfs.NotPresent(err) {
				continue
			}
			return nil, nil, false, skipped, fmt.Errorf("%s: %w", d.path, err)
		}
		present = true
		if d.path == "/usr/lib/systemd/system" {
			usrLib, _ = os.Stat(dir)
		}
		for _, e := range entries {
			name := e.Name()
			kind := classify(name)
			if kind == invalidUnit || kind == instanceUnit && e.IsDir() {
				continue
			}
			if _, seen := index[name]; seen {
				continue
			}
			u, ok := s.readUnit(d, dir, e, kind, enabled)
			// A unit systemd cannot load still hides the same name further down the path.
			index[name] = -1
			if !ok {
				skipped++
				continue
			}
			index[name] = len(units)
			units = append(units, u)
		}
	}
	return units, index, present, skipped, nil
}

// readUnit reads one unit file found as entry e of the search path directory d (resolved to
// dir). ok is false for a unit systemd would not load: unreadable, dangling or malformed.
func (s *Source) readUnit(d unitDir, dir string, e fs.DirEntry, kind unitKind, enabled map[string]string) (unit, bool) {
	name := e.Name()
	u := unit{svc: model.Service{Manager: "systemd", Name: name, Path: path.Join(d.path, name)}}
	var data []byte
	switch t := e.Type(); {
	case t&fs.ModeSymlink != 0:
		target, err := os.Readlink(filepath.Join(dir, name))
		if err != nil {
			return u, false
		}
		if target == "/dev/null" {
			u.svc.UnitFileState = "masked"
			return u, true
		}
		if !path.IsAbs(target) {
			target = path.Join(d.path, target)
		}
		target = path.Clean(target)
		data, err = s.root.ReadFile(target, maxUnitFile)
		if err != nil {
			return u, false
		}
		if path.Base(target) != name {
			// An alias: the unit is the target's, under a second name.
			u.svc.UnitFileState = "alias"
			u.svc.Path = target
		}
	case t.IsRegular():
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return u, false
		}
		data, err = hostfs.ReadAll(f, u.svc.Path, maxUnitFile)
		f.Close()
		if err != nil {
			return u, false
		}
	default:
		return u, false
	}
	uf, err := parseUnitFile(data)
	if err != nil {
		return u, false
	}
	u.rawDesc = uf.Description
	u.svc.Description = uf.Description
	u.svc.User = uf.User
	u.rules = uf.Rules
	switch {
	case u.svc.UnitFileState != "":
	case d.state != "":
		u.svc.UnitFileState = d.state
	case !uf.Rules && uf.Also:
		u.svc.UnitFileState = "indirect"
	case !uf.Rules:
		u.svc.UnitFileState = "static"
	case enabled[name] != "":
		// For a template, any linked instance enables it.
		u.svc.UnitFileState = enabled[name]
	default:
		u.svc.UnitFileState = "disabled"
	}
	return u, true
}

// addInstances lists the linked instances of templates that have no unit file of their own,
// under their template's file and description.
func addInstances(units []unit, index map[string]int, enabled map[string]string, instances []string) []unit {
	for _, name := range instances {
		if _, ok := index[name]; ok {
			continue
		}
		ti, ok := index[templateOf(name)]
		if !ok || ti < 0 {
			continue // a link to a template that does not exist: systemd ignores it too
		}
		t := units[ti]
		if t.svc.UnitFileState == "masked" {
			continue
		}
		state := enabled[name]
		if !t.rules {
			state = t.svc.UnitFileState
		}
		index[name] = len(units)
		units = append(units, unit{svc: model.Service{
			Manager:       "systemd",
			Name:          name,
			Description:   expand(t.rawDesc, name),
			UnitFileState: state,
			Path:          t.svc.Path,
			User:          expand(t.svc.User, name),
		}})
	}
	return units
}

// merge adds the service manager's states to the units, and the loaded units that have no
// unit file. An instance started without being enabled ("getty@tty2.service") gets its
// template's file.
func merge(units []unit, index map[string]int, loaded []busUnit) []unit {
	for _, l := range loaded {
		kind := classify(l.Name)
		if kind == invalidUnit {
			continue
		}
		if i, ok := index[l.Name]; ok && i >= 0 {
			units[i].svc.ActiveState = l.ActiveState
			units[i].svc.SubState = l.SubState
			if units[i].svc.Description == "" {
				units[i].svc.Description = cleanText([]byte(l.Description), maxDescription)
			}
			continue
		}
		if l.LoadState != "loaded" && l.ActiveState == "inactive" {
			// Referenced but not found, and not running: not a unit of this host.
			continue
		}
		svc := model.Service{
			Manager:     "systemd",
			Name:        l.Name,
			Description: cleanText([]byte(l.Description), maxDescription),
			ActiveState: l.ActiveState,
			SubState:    l.SubState,
		}
		if l.LoadState == "loaded" {
			svc.UnitFileState = "transient"
		}
		if kind == instanceUnit {
			if ti, ok := index[templateOf(l.Name)]; ok && ti >= 0 {
				t := units[ti].svc
				svc.Path = t.Path
				svc.User = expand(t.User, l.Name)
				svc.UnitFileState = t.UnitFileState
				if units[ti].rules {
					svc.UnitFileState = "disabled"
				}
			}
		}
		index[l.Name] = len(units)
		units = append(units, unit{svc: svc})
	}
	return units
}

// expand replaces the instance specifiers of a template's text for one instance: %i and %I
// (the instance, escaped and unescaped), %p and %P (the prefix), %n and %N (the full name,
// with and without suffix) and %%. Other specifiers are left as they are.
func expand(text, name string) string {
	if strings.IndexByte(text, '%') < 0 {
		return text
	}
	at := strings.IndexByte(name, '@')
	dot := strings.LastIndexByte(name, '.')
	prefix, instance := name[:at], name[at+1:dot]
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if text[i] != '%' || i+1 == len(text) {
			b.WriteByte(text[i])
			continue
		}
		i++
		switch text[i] {
		case 'i':
			b.WriteString(instance)
		case 'I':
			b.WriteString(unescape(instance))
		case 'p':
			b.WriteString(prefix)
		case 'P':
			b.WriteString(unescape(prefix))
		case 'n':
			b.WriteString(name)
		case 'N':
			b.WriteString(name[:dot])
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(text[i])
		}
	}
	return cleanText([]byte(b.String()), maxDescription)
}

// unescape undoes systemd's name escaping: '-' is '/', "\xNN" is the byte NN.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '-':
			b.WriteByte('/')
		case s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' && isHex(s[i+2]) && isHex(s[i+3]):
			b.WriteByte(unhex(s[i+2])<<4 | unhex(s[i+3]))
			i += 3
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// errNoManager is returned when no service manager endpoint answered.
var errNoManager = errors.New("no systemd manager reachable")

package protocol

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/onus-project/onus/internal/model"
)

// CutMarker ends a value that CleanText had to cut to its field's limit.
const CutMarker = "…"

// CleanText returns s as text every report may carry in a field of at most max bytes:
//
//   - a control character (Unicode category Cc, tab excepted) is written visibly: `\n` and
//     `\r` for newline and carriage return, `\xHH` for every other C0 character and DEL
//     (ESC is `\x1b`, BEL `\x07`), `\uHHHH` for the C1 ones (NEL is `\u0085`);
//   - each byte that is not part of valid UTF-8 becomes U+FFFD;
//   - a value still longer than max is cut after the last whole character or escape that
//     fits before CutMarker, which is appended.
//
// A backslash is kept as it is, so CleanText(CleanText(s)) == CleanText(s): text that is
// already clean never changes, whichever side cleans it and however often. The price is that
// a value that held the four characters `\x1b` reads the same as one that held ESC.
func CleanText(s string, max int) string {
	if isClean(s, max) {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s)+16, max+len(CutMarker)+8))
	budget := max - len(CutMarker)
	fit := 0 // length of the output up to the last piece that ends within budget
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteRune(utf8.RuneError)
		case r != '\t' && unicode.IsControl(r):
			b.WriteString(escape(r))
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
		if b.Len() <= budget {
			fit = b.Len()
		} else if b.Len() > max {
			// The rest can only be cut away.
			break
		}
	}
	out := b.String()
	if len(out) <= max {
		return out
	}
	if budget < 0 {
		// A field too short for the marker: cut at a character boundary alone.
		n := max
		for n > 0 && !utf8.RuneStart(out[n]) {
			n--
		}
		return out[:n]
	}
	return out[:fit] + CutMarker
}

// isClean says whether s is valid UTF-8 of at most max bytes without control characters
// other than tab: the common case, checked without allocating.
func isClean(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return false
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || unicode.IsControl(r) {
			return false
		}
		i += n - 1
	}
	return true
}

func escape(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	}
	if r < utf8.RuneSelf {
		return `\x` + hex2(byte(r))
	}
	q := strconv.QuoteRuneToASCII(r) // '\u0085'
	return q[1 : len(q)-1]
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}

// Cleaned counts, per field, the values cleaning had to change. Field names leave out list
// indices and map keys ("listeners.process", "software.summary", "host.labels"), so they form
// the bounded set TextFields lists, fit for a metric label. A nil Cleaned means nothing
// changed.
type Cleaned map[string]int

// Total returns how many values were changed in all.
func (c Cleaned) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// TextFields are the names Cleaned counts under: every free-text field of a report.
// Everything else a report holds is structure and is validated strictly: host IDs, hashes,
// kinds, package source names, source status names, event types, listener protocols,
// source states and label keys.
var TextFields = slices.Concat([]string{
	"agent_version",
	"host.id_source", "host.hostname", "host.fqdn", "host.kernel", "host.arch",
	"host.os.id", "host.os.id_like", "host.os.name", "host.os.version", "host.os.version_id",
	"host.os.pretty_name", "host.os.family",
	"host.virtualization.vm", "host.virtualization.container", "host.virtualization.evidence",
	"host.cpu.model",
	"host.filesystems.device", "host.filesystems.mountpoint", "host.filesystems.type",
	"host.interfaces.name", "host.interfaces.mac", "host.interfaces.addrs",
	"host.labels",
	"software.name", "software.version", "software.arch"},
	infoFields, // software.vendor, software.maintainer, … : one per field of model.PackageInfo
	[]string{"software.state"},
	installFields, // software.location, software.user, … : one per text field of model.InstallInfo
	[]string{"software.labels",
		"services.manager", "services.name", "services.description", "services.unit_file_state",
		"services.active_state", "services.sub_state", "services.path", "services.user", "services.image",
		"services.labels",
		"listeners.address", "listeners.process", "listeners.unit",
		"sources.error",
		"capacity.filesystems.mountpoint",
		"events.name", "events.arch", "events.version", "events.previous_version",
		"events.installed_by", "events.install_command", "events.requested", "events.evidence",
	})

// cleaner cleans fields in place and counts the ones it changed; with find, it changes
// nothing and counts the fields that hold U+FFFD.
type cleaner struct {
	n    Cleaned
	find bool
}

func (c *cleaner) text(field string, p *string, max int) {
	if c.find {
		if strings.Contains(*p, string(utf8.RuneError)) {
			c.count(field)
		}
		return
	}
	if s := CleanText(*p, max); s != *p {
		*p = s
		c.count(field)
	}
}

func (c *cleaner) count(field string) {
	if c.n == nil {
		c.n = Cleaned{}
	}
	c.n[field]++
}

// CleanReport cleans every free-text field of r in place with CleanText, each to the limit
// Validate applies to it, and returns what it changed. It leaves the structure alone: a
// report that Validate refused for its structure before is refused after.
func CleanReport(r *Report) Cleaned {
	var c cleaner
	c.text("agent_version", &r.AgentVersion, MaxNameLen)
	if r.State != nil {
		c.state(r.State)
	}
	if d := r.Delta; d != nil {
		if d.Host != nil {
			c.host(d.Host)
		}
		for i := range d.SoftwareUpsert {
			c.pkg(&d.SoftwareUpsert[i])
		}
		for i := range d.SoftwareRemove {
			k := &d.SoftwareRemove[i]
			c.pkgKey(&k.Name, &k.Arch, &k.Version)
		}
		for i := range d.ServicesUpsert {
			c.service(&d.ServicesUpsert[i])
		}
		for i := range d.ServicesRemove {
			k := &d.ServicesRemove[i]
			c.text("services.manager", &k.Manager, MaxNameLen)
			c.text("services.name", &k.Name, MaxNameLen)
		}
		c.listeners(d.Listeners)
		c.sources(d.Sources)
	}
	for i := range r.Capacity.Filesystems {
		c.text("capacity.filesystems.mountpoint", &r.Capacity.Filesystems[i].Mountpoint, MaxFieldLen)
	}
	for i := range r.Events {
		c.event(&r.Events[i])
	}
	return c.n
}

// CleanState cleans every free-text field of st in place, as CleanReport does. A cleaned
// state may need Normalize again: cleaning can change the order of values and make two
// values equal.
func CleanState(st *State) Cleaned {
	var c cleaner
	c.state(st)
	return c.n
}

// Replaced counts, per field, the values of st that hold U+FFFD, which a JSON decoder puts
// for each byte of invalid UTF-8 it meets: where an agent that did not clean its text sent
// invalid UTF-8, and hashed bytes that no longer exist once the report is decoded.
func Replaced(st *State) Cleaned {
	c := cleaner{find: true}
	c.state(st)
	return c.n
}

// CleanEvent cleans the free-text fields of one event in place.
func CleanEvent(e *Event) Cleaned {
	var c cleaner
	c.event(e)
	return c.n
}

// CleanEnroll cleans the free-text fields of an enroll request in place.
func CleanEnroll(r *EnrollRequest) Cleaned {
	var c cleaner
	c.text("host.hostname", &r.Hostname, MaxNameLen)
	c.text("agent_version", &r.AgentVersion, MaxNameLen)
	return c.n
}

func (c *cleaner) state(st *State) {
	c.host(&st.Host)
	for i := range st.Software {
		c.pkg(&st.Software[i])
	}
	for i := range st.Services {
		c.service(&st.Services[i])
	}
	c.listeners(st.Listeners)
	c.sources(st.Sources)
}

func (c *cleaner) host(h *model.Host) {
	for _, f := range []struct {
		name string
		p    *string
	}{
		{"host.id_source", &h.IDSource}, {"host.hostname", &h.Hostname}, {"host.fqdn", &h.FQDN},
		{"host.kernel", &h.Kernel}, {"host.arch", &h.Arch},
		{"host.os.id", &h.OS.ID}, {"host.os.id_like", &h.OS.IDLike}, {"host.os.name", &h.OS.Name},
		{"host.os.version", &h.OS.Version}, {"host.os.version_id", &h.OS.VersionID},
		{"host.os.pretty_name", &h.OS.PrettyName}, {"host.os.family", &h.OS.Family},
		{"host.virtualization.vm", &h.Virtualization.VM}, {"host.virtualization.container", &h.Virtualization.Container},
		{"host.cpu.model", &h.CPU.Model},
	} {
		c.text(f.name, f.p, MaxNameLen)
	}
	for i := range h.Virtualization.Evidence {
		c.text("host.virtualization.evidence", &h.Virtualization.Evidence[i], MaxFieldLen)
	}
	for i := range h.Filesystems {
		fs := &h.Filesystems[i]
		c.text("host.filesystems.device", &fs.Device, MaxFieldLen)
		c.text("host.filesystems.mountpoint", &fs.Mountpoint, MaxFieldLen)
		c.text("host.filesystems.type", &fs.Type, MaxNameLen)
	}
	for i := range h.Interfaces {
		in := &h.Interfaces[i]
		c.text("host.interfaces.name", &in.Name, MaxNameLen)
		c.text("host.interfaces.mac", &in.MAC, MaxNameLen)
		for j := range in.Addrs {
			c.text("host.interfaces.addrs", &in.Addrs[j], MaxNameLen)
		}
	}
	c.labels("host.labels", h.Labels, MaxNameLen)
}

func (c *cleaner) pkgKey(name, arch, version *string) {
	c.text("software.name", name, MaxNameLen)
	c.text("software.arch", arch, MaxNameLen)
	c.text("software.version", version, MaxFieldLen)
}

func (c *cleaner) pkg(p *model.Package) {
	c.pkgKey(&p.Name, &p.Arch, &p.Version)
	for i, f := range p.PackageInfo.Texts() {
		c.text(infoFields[i], f.Ptr, MaxFieldLen)
	}
	c.text("software.state", &p.State, MaxNameLen)
	for i, f := range p.InstallInfo.Texts() {
		c.text(installFields[i], f.Ptr, MaxFieldLen)
	}
	c.labels("software.labels", p.Labels, MaxFieldLen)
}

// labels cleans the values of a set of labels; keys are structure, validated strictly.
func (c *cleaner) labels(field string, labels map[string]string, max int) {
	for k, v := range labels {
		if c.find {
			c.text(field, &v, max)
			continue
		}
		// Replacing the value of a key being ranged over is allowed.
		if s := CleanText(v, max); s != v {
			labels[k] = s
			c.count(field)
		}
	}
}

// installFields are the names CleanReport counts the text fields of model.InstallInfo
// under, in the order of its Texts.
var installFields = func() []string {
	var info model.InstallInfo
	var names []string
	for _, f := range info.Texts() {
		names = append(names, "software."+f.Name)
	}
	return names
}()

// infoFields are the names CleanReport counts the fields of model.PackageInfo under, in
// the order of its Texts: "software.vendor" and so on, made once.
var infoFields = func() []string {
	var info model.PackageInfo
	var names []string
	for _, f := range info.Texts() {
		names = append(names, "software."+f.Name)
	}
	return names
}()

func (c *cleaner) service(s *model.Service) {
	c.text("services.manager", &s.Manager, MaxNameLen)
	c.text("services.name", &s.Name, MaxNameLen)
	c.text("services.description", &s.Description, MaxFieldLen)
	c.text("services.unit_file_state", &s.UnitFileState, MaxNameLen)
	c.text("services.active_state", &s.ActiveState, MaxNameLen)
	c.text("services.sub_state", &s.SubState, MaxNameLen)
	c.text("services.path", &s.Path, MaxFieldLen)
	c.text("services.user", &s.User, MaxNameLen)
	c.text("services.image", &s.Image, MaxFieldLen)
	c.labels("services.labels", s.Labels, MaxFieldLen)
}

func (c *cleaner) listeners(ls []model.Listener) {
	for i := range ls {
		l := &ls[i]
		c.text("listeners.address", &l.Address, MaxNameLen)
		c.text("listeners.process", &l.Process, MaxNameLen)
		c.text("listeners.unit", &l.Unit, MaxNameLen)
	}
}

func (c *cleaner) sources(ss []model.SourceStatus) {
	for i := range ss {
		c.text("sources.error", &ss[i].Error, MaxFieldLen)
	}
}

func (c *cleaner) event(e *Event) {
	c.text("events.name", &e.Name, MaxNameLen)
	c.text("events.arch", &e.Arch, MaxNameLen)
	c.text("events.version", &e.Version, MaxFieldLen)
	c.text("events.previous_version", &e.PreviousVersion, MaxFieldLen)
	c.text("events.installed_by", &e.InstalledBy, MaxFieldLen)
	c.text("events.install_command", &e.InstallCommand, MaxFieldLen)
	c.text("events.requested", &e.Requested, MaxFieldLen)
	c.text("events.evidence", &e.Evidence, MaxFieldLen)
}

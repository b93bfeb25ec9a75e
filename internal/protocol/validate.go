package protocol

import (
	"fmt"
	"net/http"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/onus-project/onus/internal/model"
)

// Bounds every report must stay within.
const (
	MaxFieldLen     = 4096 // longest string value
	MaxNameLen      = 256  // host IDs, package, service and source names, architectures
	MaxSoftware     = 50000
	MaxServices     = 20000
	MaxListeners    = 20000
	MaxEvents       = 100000
	MaxLabels       = 64
	MaxFilesystems  = 1024
	MaxInterfaces   = 1024
	MaxAddrs        = 256
	MaxSources      = 64
	MaxEvidence     = 32
	MaxCredentialLn = 512
)

var (
	hostIDRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	hashRe     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	labelKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,62}$`)
	sourceRe   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
)

// ValidHostID says whether id can name a host: 1 to 128 letters, digits, '.', '_', ':' or
// '-', starting with a letter or digit. Host IDs become etcd keys and URL path segments.
func ValidHostID(id string) bool { return hostIDRe.MatchString(id) }

// ValidateEnroll checks an enroll request's fields.
func ValidateEnroll(r *EnrollRequest) error {
	if r.EnrollSecret == "" {
		return bad("enroll_secret: missing")
	}
	if len(r.EnrollSecret) > MaxCredentialLn {
		return bad("enroll_secret: longer than %d bytes", MaxCredentialLn)
	}
	if !ValidHostID(r.HostID) {
		return bad("host_id: %s", describeBadID(r.HostID))
	}
	if err := text("hostname", r.Hostname, MaxNameLen); err != nil {
		return err
	}
	if len(r.Credential) > MaxCredentialLn {
		return bad("credential: longer than %d bytes", MaxCredentialLn)
	}
	if len(r.PendingToken) > MaxCredentialLn {
		return bad("pending_token: longer than %d bytes", MaxCredentialLn)
	}
	return text("agent_version", r.AgentVersion, MaxNameLen)
}

// Validate checks every field of a report: kinds, hashes, counts, lengths and characters.
// It returns an *Error (400) naming the first bad field. Free text is expected cleaned
// (CleanReport), as both sides clean it: what Validate refuses in a cleaned report is
// structure.
func Validate(r *Report) error {
	if !ValidHostID(r.HostID) {
		return bad("host_id: %s", describeBadID(r.HostID))
	}
	if r.Seq == 0 {
		return bad("seq: must be 1 or more")
	}
	if !hashRe.MatchString(r.Hash) {
		return bad("hash: want 64 lower-case hex digits")
	}
	if err := text("agent_version", r.AgentVersion, MaxNameLen); err != nil {
		return err
	}
	if err := timeOK("sent_at", r.SentAt); err != nil {
		return err
	}
	switch r.Kind {
	case KindFull:
		if r.State == nil {
			return bad("state: missing in a full report")
		}
		if r.Delta != nil {
			return bad("delta: not allowed in a full report")
		}
		if r.BaseHash != "" && !hashRe.MatchString(r.BaseHash) {
			return bad("base_hash: want 64 lower-case hex digits")
		}
		if err := validateState(r.State, r.HostID); err != nil {
			return err
		}
	case KindDelta, KindHeartbeat:
		if !hashRe.MatchString(r.BaseHash) {
			return bad("base_hash: want 64 lower-case hex digits in a %s report", r.Kind)
		}
		if r.State != nil {
			return bad("state: only allowed in a full report")
		}
		if r.Kind == KindHeartbeat {
			if r.Delta != nil {
				return bad("delta: not allowed in a heartbeat")
			}
			if r.Hash != r.BaseHash {
				return bad("hash: a heartbeat's hash must equal its base_hash")
			}
		} else {
			if r.Delta == nil {
				return bad("delta: missing in a delta report")
			}
			if err := validateDelta(r.Delta, r.HostID); err != nil {
				return err
			}
		}
	case "":
		return bad("kind: missing (want full, delta or heartbeat)")
	default:
		return bad("kind: %q is not full, delta or heartbeat", clipForMsg(r.Kind))
	}
	if err := validateCapacity(&r.Capacity); err != nil {
		return err
	}
	if len(r.Events) > MaxEvents {
		return bad("events: %d over the limit of %d", len(r.Events), MaxEvents)
	}
	if r.EventsDropped < 0 {
		return bad("events_dropped: negative")
	}
	for i := range r.Events {
		if err := validateEvent(&r.Events[i]); err != nil {
			return prefix(fmt.Sprintf("events[%d].", i), err)
		}
	}
	return nil
}

func validateState(st *State, hostID string) error {
	if err := validateHost(&st.Host, hostID); err != nil {
		return prefix("state.", err)
	}
	if len(st.Software) > MaxSoftware {
		return bad("state.software: %d packages over the limit of %d", len(st.Software), MaxSoftware)
	}
	for i := range st.Software {
		if err := validatePackage(&st.Software[i]); err != nil {
			return prefix(fmt.Sprintf("state.software[%d].", i), err)
		}
	}
	if len(st.Services) > MaxServices {
		return bad("state.services: %d over the limit of %d", len(st.Services), MaxServices)
	}
	for i := range st.Services {
		if err := validateService(&st.Services[i]); err != nil {
			return prefix(fmt.Sprintf("state.services[%d].", i), err)
		}
	}
	if err := validateListeners(st.Listeners); err != nil {
		return prefix("state.", err)
	}
	return prefix("state.", validateSources(st.Sources))
}

func validateDelta(d *Delta, hostID string) error {
	if d.Host != nil {
		if err := validateHost(d.Host, hostID); err != nil {
			return prefix("delta.", err)
		}
	}
	if n := len(d.SoftwareUpsert) + len(d.SoftwareRemove); n > MaxSoftware*2 {
		return bad("delta: %d software changes over the limit of %d", n, MaxSoftware*2)
	}
	for i := range d.SoftwareUpsert {
		if err := validatePackage(&d.SoftwareUpsert[i]); err != nil {
			return prefix(fmt.Sprintf("delta.software_upsert[%d].", i), err)
		}
	}
	for i, k := range d.SoftwareRemove {
		p := model.Package{Source: k.Source, Name: k.Name, Arch: k.Arch, Version: k.Version}
		if err := validatePackage(&p); err != nil {
			return prefix(fmt.Sprintf("delta.software_remove[%d].", i), err)
		}
	}
	if n := len(d.ServicesUpsert) + len(d.ServicesRemove); n > MaxServices*2 {
		return bad("delta: %d service changes over the limit of %d", n, MaxServices*2)
	}
	for i := range d.ServicesUpsert {
		if err := validateService(&d.ServicesUpsert[i]); err != nil {
			return prefix(fmt.Sprintf("delta.services_upsert[%d].", i), err)
		}
	}
	for i, k := range d.ServicesRemove {
		s := model.Service{Manager: k.Manager, Name: k.Name}
		if err := validateService(&s); err != nil {
			return prefix(fmt.Sprintf("delta.services_remove[%d].", i), err)
		}
	}
	if !d.ListenersChange && len(d.Listeners) > 0 {
		return bad("delta.listeners: present without listeners_changed")
	}
	if err := validateListeners(d.Listeners); err != nil {
		return prefix("delta.", err)
	}
	if !d.SourcesChange && len(d.Sources) > 0 {
		return bad("delta.sources: present without sources_changed")
	}
	return prefix("delta.", validateSources(d.Sources))
}

func validateHost(h *model.Host, hostID string) error {
	if h.ID != hostID {
		return bad("host.id: %q is not the report's host_id", clipForMsg(h.ID))
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"host.id_source", h.IDSource, MaxNameLen}, {"host.hostname", h.Hostname, MaxNameLen},
		{"host.fqdn", h.FQDN, MaxNameLen}, {"host.kernel", h.Kernel, MaxNameLen}, {"host.arch", h.Arch, MaxNameLen},
		{"host.os.id", h.OS.ID, MaxNameLen}, {"host.os.id_like", h.OS.IDLike, MaxNameLen},
		{"host.os.name", h.OS.Name, MaxNameLen}, {"host.os.version", h.OS.Version, MaxNameLen},
		{"host.os.version_id", h.OS.VersionID, MaxNameLen}, {"host.os.pretty_name", h.OS.PrettyName, MaxNameLen},
		{"host.os.family", h.OS.Family, MaxNameLen},
		{"host.virtualization.vm", h.Virtualization.VM, MaxNameLen},
		{"host.virtualization.container", h.Virtualization.Container, MaxNameLen},
		{"host.cpu.model", h.CPU.Model, MaxNameLen},
	} {
		if err := text(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	if len(h.Virtualization.Evidence) > MaxEvidence {
		return bad("host.virtualization.evidence: over %d entries", MaxEvidence)
	}
	for i, e := range h.Virtualization.Evidence {
		if err := text(fmt.Sprintf("host.virtualization.evidence[%d]", i), e, MaxFieldLen); err != nil {
			return err
		}
	}
	if err := timeOK("host.boot_time", h.BootTime); err != nil {
		return err
	}
	if h.CPU.Sockets < 0 || h.CPU.Cores < 0 || h.CPU.Threads < 0 || h.CPU.Threads > 1<<20 || h.CPU.Cores > 1<<20 || h.CPU.Sockets > 1<<12 {
		return bad("host.cpu: counts out of range")
	}
	if len(h.Filesystems) > MaxFilesystems {
		return bad("host.filesystems: over %d entries", MaxFilesystems)
	}
	for i, fs := range h.Filesystems {
		p := fmt.Sprintf("host.filesystems[%d].", i)
		if err := firstErr(text(p+"device", fs.Device, MaxFieldLen), nonEmpty(p+"mountpoint", fs.Mountpoint, MaxFieldLen), text(p+"type", fs.Type, MaxNameLen)); err != nil {
			return err
		}
	}
	if len(h.Interfaces) > MaxInterfaces {
		return bad("host.interfaces: over %d entries", MaxInterfaces)
	}
	for i, in := range h.Interfaces {
		p := fmt.Sprintf("host.interfaces[%d].", i)
		if err := firstErr(nonEmpty(p+"name", in.Name, MaxNameLen), text(p+"mac", in.MAC, MaxNameLen)); err != nil {
			return err
		}
		if in.MTU < 0 {
			return bad("%smtu: negative", p)
		}
		if len(in.Addrs) > MaxAddrs {
			return bad("%saddrs: over %d entries", p, MaxAddrs)
		}
		for j, a := range in.Addrs {
			if err := nonEmpty(fmt.Sprintf("%saddrs[%d]", p, j), a, MaxNameLen); err != nil {
				return err
			}
		}
	}
	return validateLabels("host.labels", h.Labels, MaxNameLen)
}

// validateLabels checks a set of labels: their number, each key strictly (structure), each
// value as text of at most max bytes.
func validateLabels(field string, labels map[string]string, max int) error {
	if len(labels) > MaxLabels {
		return bad("%s: %d over the limit of %d", field, len(labels), MaxLabels)
	}
	for k, v := range labels {
		if !labelKeyRe.MatchString(k) {
			return bad("%s: key %q must be a letter or '_' then up to 62 letters, digits, '_', '.' or '-'", field, clipForMsg(k))
		}
		if err := text(field+"."+k, v, max); err != nil {
			return err
		}
	}
	return nil
}

// ValidLabelKey reports whether k can be the key of a label (of a host, a package or a
// service): a letter or '_' then up to 62 letters, digits, '_', '.' or '-'.
func ValidLabelKey(k string) bool { return labelKeyRe.MatchString(k) }

func validatePackage(p *model.Package) error {
	if !sourceRe.MatchString(p.Source) {
		return bad("source: %q is not a package source name", clipForMsg(p.Source))
	}
	if err := firstErr(
		nonEmpty("name", p.Name, MaxNameLen), nonEmpty("version", p.Version, MaxFieldLen),
		text("arch", p.Arch, MaxNameLen)); err != nil {
		return err
	}
	for _, f := range p.PackageInfo.Texts() {
		if err := text(f.Name, *f.Ptr, MaxFieldLen); err != nil {
			return err
		}
	}
	for _, f := range p.InstallInfo.Texts() {
		if err := text(f.Name, *f.Ptr, MaxFieldLen); err != nil {
			return err
		}
	}
	if p.Copies < 0 {
		return bad("copies: %d is negative", p.Copies)
	}
	return firstErr(text("state", p.State, MaxNameLen), timeOK("install_time", p.InstallTime),
		validateLabels("labels", p.Labels, MaxFieldLen))
}

func validateService(s *model.Service) error {
	return firstErr(
		nonEmpty("manager", s.Manager, MaxNameLen), nonEmpty("name", s.Name, MaxNameLen),
		text("description", s.Description, MaxFieldLen), text("unit_file_state", s.UnitFileState, MaxNameLen),
		text("active_state", s.ActiveState, MaxNameLen), text("sub_state", s.SubState, MaxNameLen),
		text("path", s.Path, MaxFieldLen), text("user", s.User, MaxNameLen), text("image", s.Image, MaxFieldLen),
		validateLabels("labels", s.Labels, MaxFieldLen))
}

func validateListeners(ls []model.Listener) error {
	if len(ls) > MaxListeners {
		return bad("listeners: %d over the limit of %d", len(ls), MaxListeners)
	}
	for i, l := range ls {
		p := fmt.Sprintf("listeners[%d].", i)
		switch l.Protocol {
		case "tcp", "tcp6", "udp", "udp6":
		default:
			return bad("%sprotocol: %q is not tcp, tcp6, udp or udp6", p, clipForMsg(l.Protocol))
		}
		if l.PID < 0 {
			return bad("%spid: negative", p)
		}
		if err := firstErr(nonEmpty(p+"address", l.Address, MaxNameLen), text(p+"process", l.Process, MaxNameLen), text(p+"unit", l.Unit, MaxNameLen)); err != nil {
			return err
		}
	}
	return nil
}

func validateSources(ss []model.SourceStatus) error {
	if len(ss) > MaxSources {
		return bad("sources: over %d entries", MaxSources)
	}
	for i, s := range ss {
		p := fmt.Sprintf("sources[%d].", i)
		switch s.State {
		case "ok", "not_present", "error":
		default:
			return bad("%sstate: %q is not ok, not_present or error", p, clipForMsg(s.State))
		}
		if s.Items < 0 || s.Skipped < 0 || s.Duration < 0 {
			return bad("%scount: negative", p)
		}
		if err := firstErr(nonEmpty(p+"name", s.Name, MaxNameLen), text(p+"error", s.Error, MaxFieldLen)); err != nil {
			return err
		}
	}
	return nil
}

func validateCapacity(c *Capacity) error {
	if len(c.Filesystems) > MaxFilesystems {
		return bad("capacity.filesystems: over %d entries", MaxFilesystems)
	}
	for i, fs := range c.Filesystems {
		if err := nonEmpty(fmt.Sprintf("capacity.filesystems[%d].mountpoint", i), fs.Mountpoint, MaxFieldLen); err != nil {
			return err
		}
	}
	if c.SourceDurationSecs < 0 {
		return bad("capacity.source_duration_seconds: negative")
	}
	return timeOK("capacity.collected_at", c.CollectedAt)
}

func validateEvent(e *Event) error {
	switch e.Type {
	case EventInstalled, EventRemoved, EventUpgraded, EventDowngraded:
	default:
		return bad("type: %q is not installed, removed, upgraded or downgraded", clipForMsg(e.Type))
	}
	if !sourceRe.MatchString(e.Source) {
		return bad("source: %q is not a package source name", clipForMsg(e.Source))
	}
	if e.Time.IsZero() {
		return bad("time: missing")
	}
	return firstErr(nonEmpty("name", e.Name, MaxNameLen), text("arch", e.Arch, MaxNameLen),
		text("version", e.Version, MaxFieldLen), text("previous_version", e.PreviousVersion, MaxFieldLen),
		timeOK("time", e.Time), timeOK("detected_at", e.DetectedAt),
		text("installed_by", e.InstalledBy, MaxFieldLen), text("install_command", e.InstallCommand, MaxFieldLen),
		text("requested", e.Requested, MaxFieldLen), text("evidence", e.Evidence, MaxFieldLen))
}

// text checks that v is valid UTF-8 of at most max bytes without control characters.
func text(field, v string, max int) error {
	if len(v) > max {
		return bad("%s: longer than %d bytes", field, max)
	}
	if !utf8.ValidString(v) {
		return bad("%s: not valid UTF-8", field)
	}
	for _, r := range v {
		if unicode.IsControl(r) && r != '\t' {
			return bad("%s: control character %U", field, r)
		}
	}
	return nil
}

func nonEmpty(field, v string, max int) error {
	if v == "" {
		return bad("%s: missing", field)
	}
	return text(field, v, max)
}

// Every time in a report lies between minTime and maxTime, which keeps it encodable in
// JSON whatever its zone: Normalize drops the others from a state.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

func timeOK(field string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return bad("%s: %s is out of range", field, t.UTC().Format(time.RFC3339))
	}
	return nil
}

func describeBadID(id string) string {
	if id == "" {
		return "missing"
	}
	return fmt.Sprintf("%q must be 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit", clipForMsg(id))
}

func clipForMsg(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func bad(format string, args ...any) error {
	return Errorf(http.StatusBadRequest, format, args...)
}

func prefix(p string, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		return &Error{Status: e.Status, Msg: p + e.Msg}
	}
	return err
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

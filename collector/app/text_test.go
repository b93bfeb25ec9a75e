package app

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

// rawState is the state an agent that does not clean would send: normalized and hashed
// with its text as the host had it.
func rawState(inv *model.Inventory) protocol.State {
	st := protocol.State{Host: inv.Host, Software: slices.Clone(inv.Software), Services: slices.Clone(inv.Services),
		Listeners: slices.Clone(inv.Listeners), Sources: slices.Clone(inv.Sources)}
	st.Host.Filesystems = slices.Clone(st.Host.Filesystems)
	protocol.Normalize(&st)
	return st
}

// dirtyHost puts into an inventory what any local user or package can: escape sequences,
// invalid UTF-8, DEL, newlines and over-long text.
func dirtyHost(inv *model.Inventory) {
	inv.Listeners = append(inv.Listeners,
		model.Listener{Protocol: "tcp", Address: "127.0.0.1", Port: 4444, PID: 4444, Process: "\x1b[31mevil\x1b[0m"},
		model.Listener{Protocol: "tcp", Address: "127.0.0.1", Port: 4445, PID: 4445, Process: "d\xe6mon"})
	inv.Software[0].Summary = "web server\x1b]0;owned\a"
	inv.Software[0].Maintainer = "Jo\x7f <jo@example.com>"
	inv.Software[1].Summary = strings.Repeat("long ", 1000)
	inv.Services[0].Description = "\x1b[2JDaemon"
	inv.Host.Filesystems[0].Mountpoint = "/mnt/new\nline"
	inv.Host.OS.PrettyName = "Debian\x1b[5m 12"
	inv.Sources[0].Error = "boot time: no /proc\nfilesystems: no /proc"
	inv.Sources[0].State = "error"
}

// TestDirtyReportFromAnOlderAgent: a full report whose text an older or hostile agent left
// dirty, hashed over that raw text, is stored cleaned, not refused; the agent gets its own
// hash back, its heartbeats match, and the cleaned fields are counted.
func TestDirtyReportFromAnOlderAgent(t *testing.T) {
	c := start(t, Options{DataDir: t.TempDir()})
	reg := c.opts.Registerer.(*prometheus.Registry)
	inv := fixture.Golden(t, "debian12")
	dirtyHost(inv)
	id := inv.Host.ID
	cred := enroll(t, c.url, id)

	st := rawState(inv)
	_, capa := protocol.FromInventory(inv)
	full := &protocol.Report{HostID: id, Seq: 1, Kind: protocol.KindFull, SentAt: time.Now().UTC(), AgentVersion: "0.0.9",
		Hash: protocol.Hash(&st), State: &st, Capacity: capa}
	if err := protocol.Validate(full); err == nil {
		t.Fatal("the dirty report passes validation as it is: it tests nothing")
	}
	resp := report(t, c.url, cred, full)
	if resp.Status != protocol.StatusAccepted || resp.Hash != full.Hash {
		t.Fatalf("dirty full report: %+v, want accepted with the agent's hash %s", resp, full.Hash)
	}

	var d struct {
		hostDetail
		Services  []model.Service      `json:"services"`
		Listeners []model.Listener     `json:"listeners"`
		Sources   []model.SourceStatus `json:"sources"`
	}
	if code := call(t, "GET", c.url+"/api/v1/hosts/"+id, admin, nil, false, &d); code != 200 {
		t.Fatalf("host: %d", code)
	}
	if d.Hash != full.Hash {
		t.Errorf("stored hash %s, want the agent's %s", d.Hash, full.Hash)
	}
	var procs []string
	for _, l := range d.Listeners {
		if l.Port == 4444 || l.Port == 4445 {
			procs = append(procs, l.Process)
		}
	}
	if want := []string{`\x1b[31mevil\x1b[0m`, "d\uFFFDmon"}; !slices.Equal(procs, want) {
		t.Errorf("stored processes %q, want %q", procs, want)
	}
	summaries := map[string]string{}
	for _, s := range d.Software {
		summaries[s.Title] = s.Summary
	}
	if got, want := summaries[inv.Software[0].Title()], `web server\x1b]0;owned\x07`; got != want {
		t.Errorf("stored summary %q, want %q", got, want)
	}
	if got := summaries[inv.Software[1].Title()]; len(got) != protocol.MaxFieldLen || !strings.HasSuffix(got, protocol.CutMarker) {
		t.Errorf("stored long summary of %d bytes ending %q, want %d ending with the cut marker", len(got), got[max(0, len(got)-8):], protocol.MaxFieldLen)
	}
	if got, want := d.Services[0].Description, `\x1b[2JDaemon`; got != want {
		t.Errorf("stored unit description %q, want %q", got, want)
	}
	if !slices.ContainsFunc(d.Host.Filesystems, func(fs model.Filesystem) bool { return fs.Mountpoint == `/mnt/new\nline` }) {
		t.Errorf("stored filesystems %+v, want the mount point escaped", d.Host.Filesystems)
	}
	if got, want := d.Host.OS.PrettyName, `Debian\x1b[5m 12`; got != want {
		t.Errorf("stored pretty name %q, want %q", got, want)
	}
	if !slices.ContainsFunc(d.Sources, func(s model.SourceStatus) bool { return s.Error == `boot time: no /proc\nfilesystems: no /proc` }) {
		t.Errorf("stored sources %+v, want the error on one line", d.Sources)
	}
	for field, want := range map[string]float64{
		"listeners.process": 2, "software.summary": 2, "software.maintainer": 1, "services.description": 1,
		"host.filesystems.mountpoint": 1, "host.os.pretty_name": 1, "sources.error": 1,
		"capacity.filesystems.mountpoint": 0, "host.hostname": 0,
	} {
		if got := counter(t, reg, "onus_collector_report_text_cleaned_total", "field", field); got != want {
			t.Errorf("onus_collector_report_text_cleaned_total{field=%q} = %v, want %v", field, got, want)
		}
	}

	// The same report again (a retry) is a duplicate; a heartbeat on the agent's hash matches.
	if resp := report(t, c.url, cred, full); !resp.Duplicate || resp.Hash != full.Hash {
		t.Errorf("retried dirty report: %+v", resp)
	}
	hb := &protocol.Report{HostID: id, Seq: 2, Kind: protocol.KindHeartbeat, SentAt: time.Now().UTC(), BaseHash: full.Hash, Hash: full.Hash, Capacity: capa}
	if resp := report(t, c.url, cred, hb); resp.Status != protocol.StatusAccepted || resp.Hash != full.Hash {
		t.Errorf("heartbeat on the agent's hash: %+v", resp)
	}
	// A dirty delta hashed over raw text cannot be checked against the cleaned state: the
	// agent is asked for a full report, which is stored as above.
	next := rawState(inv)
	next.Software = append(next.Software, model.Package{Source: "deb", Name: "shadow\x1btool", Version: "1.0", PackageInfo: model.PackageInfo{Summary: "x\x1b"}})
	protocol.Normalize(&next)
	delta := &protocol.Report{HostID: id, Seq: 3, Kind: protocol.KindDelta, SentAt: time.Now().UTC(), BaseHash: full.Hash,
		Hash: protocol.Hash(&next), Delta: protocol.Diff(&st, &next), Capacity: capa,
		Events: []protocol.Event{{Type: protocol.EventInstalled, Source: "deb", Name: "shadow\x1btool", Version: "1.0", Time: time.Now().UTC(), DetectedAt: time.Now().UTC()}}}
	if resp := report(t, c.url, cred, delta); resp.Status != protocol.StatusNeedFull {
		t.Errorf("dirty delta: %+v, want need_full", resp)
	}
	full2 := &protocol.Report{HostID: id, Seq: 4, Kind: protocol.KindFull, SentAt: time.Now().UTC(), BaseHash: full.Hash,
		Hash: protocol.Hash(&next), State: &next, Capacity: capa, Events: delta.Events}
	if resp := report(t, c.url, cred, full2); resp.Status != protocol.StatusAccepted || resp.Hash != full2.Hash {
		t.Fatalf("full report after need_full: %+v", resp)
	}
	if code := call(t, "GET", c.url+"/api/v1/hosts/"+id, admin, nil, false, &d); code != 200 {
		t.Fatalf("host: %d", code)
	}
	installed := false
	for _, s := range d.Software {
		installed = installed || s.Title == `deb:shadow\x1btool` && s.Installed
	}
	if !installed {
		t.Errorf("the package installed with an escape in its name is not stored as installed: %+v", d.Software)
	}
	if len(d.Events) != 1 || d.Events[0].Name != `shadow\x1btool` {
		t.Errorf("events %+v, want the install with the name escaped", d.Events)
	}

	// Invalid UTF-8 alone: the JSON decoder replaced it, so nothing is left to clean, yet the
	// agent hashed the raw bytes. Stored, not refused with a hash mismatch.
	inv2 := fixture.Golden(t, "rocky9")
	inv2.Listeners = append(inv2.Listeners, model.Listener{Protocol: "tcp", Address: "127.0.0.1", Port: 4446, PID: 9, Process: "\xff\xfeproc"})
	cred2 := enroll(t, c.url, inv2.Host.ID)
	st2 := rawState(inv2)
	_, capa2 := protocol.FromInventory(inv2)
	utf := &protocol.Report{HostID: inv2.Host.ID, Seq: 1, Kind: protocol.KindFull, SentAt: time.Now().UTC(), Hash: protocol.Hash(&st2), State: &st2, Capacity: capa2}
	before := counter(t, reg, "onus_collector_report_text_cleaned_total", "field", "listeners.process")
	if resp := report(t, c.url, cred2, utf); resp.Status != protocol.StatusAccepted || resp.Hash != utf.Hash {
		t.Errorf("report with invalid UTF-8 only: %+v", resp)
	}
	if got := counter(t, reg, "onus_collector_report_text_cleaned_total", "field", "listeners.process") - before; got != 1 {
		t.Errorf("listeners.process counted %v more, want 1", got)
	}

	// An enrollment whose hostname holds an escape sequence is cleaned, not refused.
	var er protocol.EnrollResponse
	req := protocol.EnrollRequest{EnrollSecret: secret, HostID: "0badc0de0badc0de0badc0de0badc0de", Hostname: "evil\x1b[31m", AgentVersion: "0.0.9"}
	if code := call(t, "POST", c.url+protocol.PathEnroll, "", marshal(t, req), true, &er); code != 200 {
		t.Errorf("enroll with an escape sequence in the hostname: %d", code)
	}
	if got := counter(t, reg, "onus_collector_report_text_cleaned_total", "field", "host.hostname"); got != 1 {
		t.Errorf("host.hostname cleaned %v times, want 1 (the enrollment)", got)
	}

	// Structure is still checked strictly: a clean state under a hash that is not its own.
	clean, _ := fullReport(fixture.Golden(t, "debian12"), 5)
	clean.Hash = strings.Repeat("0", 64)
	var e protocol.ErrorResponse
	if code := call(t, "POST", c.url+protocol.PathReport, cred, marshal(t, clean), true, &e); code != 400 || !strings.Contains(e.Error, "hash:") {
		t.Errorf("clean report with a wrong hash: %d %q, want 400 naming the hash", code, e.Error)
	}
}

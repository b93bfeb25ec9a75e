package reporter

import (
	"slices"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/source/apk"
	"github.com/onus-project/onus/agent/source/dpkg"
	"github.com/onus-project/onus/agent/source/host"
	"github.com/onus-project/onus/agent/source/pacman"
	"github.com/onus-project/onus/agent/source/ports"
	"github.com/onus-project/onus/agent/source/rpm"
	"github.com/onus-project/onus/agent/source/systemd"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// testSources are the sources the states of these tests come from, as the reporter learns
// them from its inventory.
var testSources = traitsOf(host.New(host.Options{}), dpkg.New("/"), rpm.New("/"), apk.New("/"), pacman.New("/"),
	systemd.New(systemd.Options{}), ports.New("/"))

func pkg(source, name, version string) model.Package {
	return model.Package{Source: source, Name: name, Version: version, Arch: "amd64"}
}

func TestCarryOverAndEvents(t *testing.T) {
	ok := func(name string) model.SourceStatus { return model.SourceStatus{Name: name, State: "ok"} }
	bad := func(name string) model.SourceStatus {
		return model.SourceStatus{Name: name, State: "error", Error: "boom"}
	}
	prev := &protocol.State{
		Host:      model.Host{ID: "h1", Hostname: "old"},
		Software:  []model.Package{pkg("deb", "bash", "5.2"), pkg("deb", "curl", "7.88"), pkg("rpm", "kernel", "6.1")},
		Services:  []model.Service{{Manager: "systemd", Name: "ssh.service"}},
		Listeners: []model.Listener{{Protocol: "tcp", Address: "0.0.0.0", Port: 22}},
		Sources:   []model.SourceStatus{ok("host"), ok("dpkg"), ok("rpm"), ok("systemd"), ok("ports")},
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		next     protocol.State
		carried  []string
		software []string
		events   []string
	}{
		{
			name: "dpkg failed: its packages stay, no event",
			next: protocol.State{Host: model.Host{ID: "h1"}, Software: []model.Package{pkg("rpm", "kernel", "6.1"), pkg("rpm", "vim", "9")},
				Sources: []model.SourceStatus{ok("host"), bad("dpkg"), ok("rpm"), ok("systemd"), ok("ports")}},
			carried:  []string{"dpkg"},
			software: []string{"deb:bash", "deb:curl", "rpm:kernel", "rpm:vim"},
			events:   []string{"installed rpm:vim"},
		},
		{
			name: "dpkg failed with a partial result: replaced by the previous one",
			next: protocol.State{Host: model.Host{ID: "h1"}, Software: []model.Package{pkg("deb", "bash", "5.2"), pkg("rpm", "kernel", "6.1")},
				Sources: []model.SourceStatus{ok("host"), bad("dpkg"), ok("rpm"), ok("systemd"), ok("ports")}},
			carried:  []string{"dpkg"},
			software: []string{"deb:bash", "deb:curl", "rpm:kernel"},
		},
		{
			name: "systemd, ports and host failed",
			next: protocol.State{Host: model.Host{Labels: map[string]string{"env": "new"}}, Software: prev.Software,
				Sources: []model.SourceStatus{bad("host"), ok("dpkg"), ok("rpm"), bad("systemd"), bad("ports")}},
			carried:  []string{"host", "systemd", "ports"},
			software: []string{"deb:bash", "deb:curl", "rpm:kernel"},
		},
		{
			name: "all good: removals are real",
			next: protocol.State{Host: model.Host{ID: "h1"}, Software: []model.Package{pkg("deb", "bash", "5.3")},
				Sources: []model.SourceStatus{ok("host"), ok("dpkg"), ok("rpm"), ok("systemd"), ok("ports")}},
			software: []string{"deb:bash"},
			events:   []string{"upgraded deb:bash", "removed deb:curl", "removed rpm:kernel"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.next
			st.Software = slices.Clone(st.Software)
			carried := carryOver(prev, &st, testSources)
			protocol.Normalize(&st)
			if !slices.Equal(carried, tt.carried) {
				t.Errorf("carried %v, want %v", carried, tt.carried)
			}
			var sw []string
			for _, p := range st.Software {
				sw = append(sw, p.Title())
			}
			if !slices.Equal(sw, tt.software) {
				t.Errorf("software %v, want %v", sw, tt.software)
			}
			var evs []string
			for _, e := range softwareEvents(prev, &st, now, testSources) {
				evs = append(evs, e.Type+" "+e.Title())
			}
			if !slices.Equal(evs, tt.events) {
				t.Errorf("events %v, want %v", evs, tt.events)
			}
			if slices.Contains(tt.carried, "host") && (st.Host.ID != "h1" || st.Host.Labels["env"] != "new") {
				t.Errorf("host %+v: want the previous one with the new labels", st.Host)
			}
			if slices.Contains(tt.carried, "systemd") && len(st.Services) != 1 {
				t.Errorf("services %+v", st.Services)
			}
			if slices.Contains(tt.carried, "ports") && len(st.Listeners) != 1 {
				t.Errorf("listeners %+v", st.Listeners)
			}
		})
	}
}

// A source that failed before with nothing to carry over yields no events when it recovers:
// its packages were unknown, not absent.
func TestNoEventsForAnUnknownSource(t *testing.T) {
	prev := &protocol.State{Sources: []model.SourceStatus{{Name: "dpkg", State: "error"}}}
	next := &protocol.State{Software: []model.Package{pkg("deb", "bash", "5.2")}, Sources: []model.SourceStatus{{Name: "dpkg", State: "ok"}}}
	if ev := softwareEvents(prev, next, time.Now(), testSources); len(ev) != 0 {
		t.Errorf("events %+v", ev)
	}
	if ev := softwareEvents(nil, next, time.Now(), testSources); len(ev) != 0 {
		t.Errorf("first pass events %+v", ev)
	}
}

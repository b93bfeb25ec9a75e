package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

var (
	t0       = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	enrolled = store.Agent{HostID: "h1", EnrolledAt: t0.Add(-time.Hour)}
)

func pkg(name, version string) model.Package {
	return model.Package{Source: "deb", Name: name, Version: version, Arch: "amd64"}
}

// state returns a normalized state with the packages and its hash.
func state(pkgs ...model.Package) (*protocol.State, string) {
	st := &protocol.State{Host: model.Host{ID: "h1", Hostname: "web1"}, Software: pkgs}
	protocol.Normalize(st)
	return st, protocol.Hash(st)
}

func full(seq uint64, pkgs ...model.Package) *protocol.Report {
	st, h := state(pkgs...)
	return &protocol.Report{HostID: "h1", Seq: seq, Kind: protocol.KindFull, Hash: h, State: st}
}

// delta is the report that takes a host from the packages of base to those of next.
func delta(seq uint64, base, next []model.Package, events ...protocol.Event) *protocol.Report {
	b, bh := state(base...)
	n, nh := state(next...)
	return &protocol.Report{HostID: "h1", Seq: seq, Kind: protocol.KindDelta, BaseHash: bh, Hash: nh, Delta: protocol.Diff(b, n), Events: events}
}

func heartbeat(seq uint64, base []model.Package, events ...protocol.Event) *protocol.Report {
	_, h := state(base...)
	return &protocol.Report{HostID: "h1", Seq: seq, Kind: protocol.KindHeartbeat, BaseHash: h, Hash: h, Events: events}
}

func installed(name, version string, at time.Time) protocol.Event {
	return protocol.Event{Type: protocol.EventInstalled, Source: "deb", Name: name, Arch: "amd64", Version: version, Time: at, DetectedAt: at}
}

// attributed is p with what describes its installation.
func attributed(p model.Package) model.Package {
	p.InstallInfo = model.InstallInfo{Location: "/usr/bin/" + p.Name, Requested: model.RequestedExplicit, InstalledBy: "alice",
		InstallCommand: "apt-get install " + p.Name, Evidence: "apt-history", Labels: map[string]string{"k": "v"}}
	return p
}

// recordOf is the record a first full report of pkgs makes, at seq 1.
func recordOf(t *testing.T, pkgs ...model.Package) *store.HostRecord {
	t.Helper()
	out, err := applyReport(nil, full(1, pkgs...), enrolled, t0, false)
	if err != nil || out.rec == nil {
		t.Fatalf("first report: %+v, %v", out, err)
	}
	return out.rec
}

// TestApplyReport runs applyReport, the pure step from a host's record and a report to the
// answer and the new record, over every kind of report and record.
func TestApplyReport(t *testing.T) {
	base := []model.Package{pkg("bash", "5.2"), pkg("curl", "8.0")}
	withNginx := append([]model.Package{pkg("nginx", "1.24")}, base...)
	later := t0.Add(time.Hour)
	type want struct {
		status    string
		duplicate bool
		write     bool
		errStatus int
		check     func(t *testing.T, rec *store.HostRecord)
	}
	cases := []struct {
		name    string
		old     func(t *testing.T) *store.HostRecord
		report  *protocol.Report
		agent   store.Agent
		cleaned bool
		want    want
	}{
		{name: "first full report", report: full(1, base...),
			want: want{status: protocol.StatusAccepted, write: true, check: func(t *testing.T, rec *store.HostRecord) {
				if !rec.FirstReport.Equal(later) || len(rec.Software) != 2 {
					t.Errorf("record: first report %s, %d packages", rec.FirstReport, len(rec.Software))
				}
				for _, in := range rec.Software {
					if in.Installed {
						t.Errorf("%s counted as installed under watch on the first report", in.Name)
					}
				}
			}}},
		{name: "full report whose hash is not its state's", report: func() *protocol.Report { r := full(1, base...); r.Hash = "sha256:00"; return r }(),
			want: want{errStatus: http.StatusBadRequest}},
		{name: "first report a delta", report: delta(2, base, withNginx), want: want{status: protocol.StatusNeedFull}},
		{name: "first report a heartbeat", report: heartbeat(2, base), want: want{status: protocol.StatusNeedFull}},
		{name: "retry of the report that made the record", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: full(1, base...), want: want{status: protocol.StatusAccepted, duplicate: true}},
		{name: "older report with another state", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: full(1, withNginx...), want: want{status: protocol.StatusNeedFull}},
		{name: "re-enrolled agent starting its sequence again", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: full(1, withNginx...), agent: store.Agent{HostID: "h1", EnrolledAt: t0.Add(time.Minute)},
			want: want{status: protocol.StatusAccepted, write: true}},
		{name: "full report of the state held", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: full(5, base...), want: want{status: protocol.StatusAccepted}},
		{name: "delta installing a package", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: delta(2, base, withNginx, installed("nginx", "1.24", t0.Add(30*time.Minute))),
			want: want{status: protocol.StatusAccepted, write: true, check: func(t *testing.T, rec *store.HostRecord) {
				for _, in := range rec.Software {
					if want := in.Name == "nginx"; in.Installed != want {
						t.Errorf("%s installed under watch: %v", in.Name, in.Installed)
					}
					if in.Name == "nginx" && !in.InstalledAt.Equal(t0.Add(30*time.Minute)) {
						t.Errorf("nginx installed at %s, want the event's time", in.InstalledAt)
					}
					if in.Name == "bash" && !rec.FirstReport.Equal(t0) {
						t.Errorf("first report moved to %s", rec.FirstReport)
					}
				}
				if len(rec.Events) != 1 {
					t.Errorf("%d events kept", len(rec.Events))
				}
			}}},
		{name: "delta without an event: installed now", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: delta(2, base, withNginx),
			want: want{status: protocol.StatusAccepted, write: true, check: func(t *testing.T, rec *store.HostRecord) {
				for _, in := range rec.Software {
					if in.Name == "nginx" && (!in.Installed || !in.InstalledAt.Equal(later)) {
						t.Errorf("nginx: installed %v at %s, want now", in.Installed, in.InstalledAt)
					}
				}
			}}},
		{name: "delta saying who installed a package and where it is", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: delta(2, base, []model.Package{base[0], attributed(base[1])}),
			want: want{status: protocol.StatusAccepted, write: true, check: func(t *testing.T, rec *store.HostRecord) {
				for _, in := range rec.Software {
					want := model.InstallInfo{}
					if in.Name == base[1].Name {
						want = attributed(base[1]).InstallInfo
					}
					if !in.InstallInfo.Equal(&want) {
						t.Errorf("%s: install info %+v, want %+v", in.Name, in.InstallInfo, want)
					}
				}
				// The rebuilt state hashes as the agent's did, so the next delta applies.
				st := rec.State()
				protocol.Normalize(&st)
				if h := protocol.Hash(&st); h != rec.Hash {
					t.Errorf("rebuilt state hashes to %s, the report said %s", h, rec.Hash)
				}
			}}},
		{name: "delta on another base", old: func(t *testing.T) *store.HostRecord { return recordOf(t, withNginx...) },
			report: delta(2, base, base[:1]), want: want{status: protocol.StatusNeedFull}},
		{name: "delta that does not lead to its hash", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: func() *protocol.Report { r := delta(2, base, withNginx); r.Hash = "sha256:ff"; return r }(),
			want:   want{status: protocol.StatusNeedFull}},
		{name: "heartbeat", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: heartbeat(2, base), want: want{status: protocol.StatusAccepted}},
		{name: "heartbeat on another base", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: heartbeat(2, withNginx), want: want{status: protocol.StatusNeedFull}},
		{name: "heartbeat with events (installed and removed again)", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: heartbeat(2, base, installed("nginx", "1.24", t0.Add(time.Minute)),
				protocol.Event{Type: protocol.EventRemoved, Source: "deb", Name: "nginx", Arch: "amd64", Version: "1.24", Time: t0.Add(2 * time.Minute)}),
			want: want{status: protocol.StatusAccepted, write: true, check: func(t *testing.T, rec *store.HostRecord) {
				if len(rec.Events) != 2 || len(rec.Software) != 2 {
					t.Errorf("%d events, %d packages; want 2 and the state unchanged", len(rec.Events), len(rec.Software))
				}
			}}},
		{name: "events resent with a retried report are kept once", old: func(t *testing.T) *store.HostRecord {
			out, err := applyReport(recordOf(t, base...), heartbeat(2, base, installed("nginx", "1", t0)), enrolled, later, false)
			if err != nil {
				t.Fatal(err)
			}
			return out.rec
		}, report: heartbeat(3, base, installed("nginx", "1", t0)),
			want: want{status: protocol.StatusAccepted, write: true, check: func(t *testing.T, rec *store.HostRecord) {
				if len(rec.Events) != 1 {
					t.Errorf("%d events, want the one", len(rec.Events))
				}
			}}},
		{name: "events past the cap drop the oldest", old: func(t *testing.T) *store.HostRecord { return recordOf(t, base...) },
			report: func() *protocol.Report {
				var evs []protocol.Event
				for i := range store.MaxHostEvents + 7 {
					evs = append(evs, installed(fmt.Sprintf("p%d", i), "1", t0.Add(time.Duration(i)*time.Second)))
				}
				return heartbeat(2, base, evs...)
			}(),
			want: want{status: protocol.StatusAccepted, write: true, check: func(t *testing.T, rec *store.HostRecord) {
				if len(rec.Events) != store.MaxHostEvents || rec.EventsDropped != 7 || rec.Events[0].Name != "p7" {
					t.Errorf("%d events (first %s), %d dropped", len(rec.Events), rec.Events[0].Name, rec.EventsDropped)
				}
			}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var old *store.HostRecord
			if c.old != nil {
				old = c.old(t)
			}
			agent := c.agent
			if agent.HostID == "" {
				agent = enrolled
			}
			out, err := applyReport(old, c.report, agent, later, c.cleaned)
			if c.want.errStatus != 0 {
				var pe *protocol.Error
				if !errors.As(err, &pe) || pe.Status != c.want.errStatus {
					t.Fatalf("error %v, want a %d", err, c.want.errStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.resp.Status != c.want.status || out.resp.Duplicate != c.want.duplicate {
				t.Fatalf("answer %+v, want %s (duplicate %v)", out.resp, c.want.status, c.want.duplicate)
			}
			if (out.rec != nil) != c.want.write {
				t.Fatalf("record written: %v, want %v", out.rec != nil, c.want.write)
			}
			if out.rec != nil {
				if out.resp.Hash != c.report.Hash || out.rec.Hash != c.report.Hash || out.rec.Seq != c.report.Seq {
					t.Errorf("record at %s/%d, answer %s; want the report's %s/%d", out.rec.Hash, out.rec.Seq, out.resp.Hash, c.report.Hash, c.report.Seq)
				}
				if c.want.check != nil {
					c.want.check(t, out.rec)
				}
			} else if old != nil && out.resp.Hash != old.Hash {
				t.Errorf("answer hash %s, want the held %s", out.resp.Hash, old.Hash)
			}
		})
	}
}

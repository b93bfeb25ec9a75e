package protocol

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

func TestValidateValid(t *testing.T) {
	for name, r := range testReports(t) {
		t.Run(name, func(t *testing.T) {
			if err := Validate(r); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	for _, name := range []string{"arch", "centos7", "debian12", "opensuse15", "rocky9"} {
		t.Run(name, func(t *testing.T) {
			if err := Validate(reportFor(t, fixture.Golden(t, name))); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	t.Run("full report with a base hash", func(t *testing.T) {
		r := reportFor(t, fixture.Golden(t, "debian12"))
		r.BaseHash = strings.Repeat("0", 64)
		if err := Validate(r); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
	t.Run("tabs and non-ASCII text", func(t *testing.T) {
		r := reportFor(t, fixture.Golden(t, "debian12"))
		r.State.Software[0].Summary = "Résumé\tof a package — «quoted»"
		r.State.Host.Labels["owner"] = "Zoë"
		if err := Validate(r); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
}

// TestValidate covers structure. Free text that Validate refuses as it is (control
// characters, invalid UTF-8, over-long values) is cleaned first: TestCleanReportDirtyHost.
func TestValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	hash := strings.Repeat("ab", 32)
	outOfRange := []time.Time{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	cases := []struct {
		name   string
		kind   string // the report to start from: full, delta or heartbeat
		mutate func(r *Report)
		msg    string
	}{
		{"host_id missing", "full", func(r *Report) { r.HostID = "" }, "host_id: missing"},
		{"host_id with a space", "full", func(r *Report) { r.HostID = "web 01" }, `host_id: "web 01" must be`},
		{"host_id with a slash", "heartbeat", func(r *Report) { r.HostID = "web/01" }, "host_id:"},
		{"host_id starting with a dot", "full", func(r *Report) { r.HostID = ".web" }, "host_id:"},
		{"host_id too long", "full", func(r *Report) { r.HostID = long(129) }, "host_id:"},
		{"host_id with a newline", "full", func(r *Report) { r.HostID = "web\n" }, "host_id:"},
		{"seq zero", "full", func(r *Report) { r.Seq = 0 }, "seq: must be 1 or more"},
		{"hash missing", "full", func(r *Report) { r.Hash = "" }, "hash: want 64 lower-case hex digits"},
		{"hash upper-case", "full", func(r *Report) { r.Hash = strings.ToUpper(r.Hash) }, "hash:"},
		{"hash short", "delta", func(r *Report) { r.Hash = r.Hash[:63] }, "hash:"},
		{"sent_at before 1970", "full", func(r *Report) { r.SentAt = outOfRange[0] }, "sent_at: 1969-12-31T23:59:59Z is out of range"},
		{"sent_at after 9999", "heartbeat", func(r *Report) { r.SentAt = outOfRange[1] }, "sent_at:"},
		{"kind missing", "full", func(r *Report) { r.Kind = "" }, "kind: missing"},
		{"kind unknown", "full", func(r *Report) { r.Kind = "partial" }, `kind: "partial" is not full, delta or heartbeat`},
		{"full without state", "full", func(r *Report) { r.State = nil }, "state: missing in a full report"},
		{"full with a delta", "full", func(r *Report) { r.Delta = &Delta{} }, "delta: not allowed in a full report"},
		{"full with a bad base_hash", "full", func(r *Report) { r.BaseHash = "x" }, "base_hash:"},
		{"delta without base_hash", "delta", func(r *Report) { r.BaseHash = "" }, "base_hash: want 64 lower-case hex digits in a delta report"},
		{"delta without delta", "delta", func(r *Report) { r.Delta = nil }, "delta: missing in a delta report"},
		{"delta with a state", "delta", func(r *Report) { r.State = &State{} }, "state: only allowed in a full report"},
		{"heartbeat without base_hash", "heartbeat", func(r *Report) { r.BaseHash = "" }, "base_hash:"},
		{"heartbeat hash differs", "heartbeat", func(r *Report) { r.Hash = hash }, "hash: a heartbeat's hash must equal its base_hash"},
		{"heartbeat with a delta", "heartbeat", func(r *Report) { r.Delta = &Delta{} }, "delta: not allowed in a heartbeat"},
		{"heartbeat with a state", "heartbeat", func(r *Report) { r.State = &State{} }, "state: only allowed in a full report"},

		{"host.id mismatch", "full", func(r *Report) { r.State.Host.ID = "other" }, `state.host.id: "other" is not the report's host_id`},
		{"host.boot_time before 1970", "full", func(r *Report) { r.State.Host.BootTime = outOfRange[0] }, "state.host.boot_time:"},
		{"host.boot_time after 9999", "full", func(r *Report) { r.State.Host.BootTime = outOfRange[1] }, "state.host.boot_time:"},
		{"host.cpu negative", "full", func(r *Report) { r.State.Host.CPU.Cores = -1 }, "state.host.cpu: counts out of range"},
		{"host.virtualization.evidence too many", "full", func(r *Report) {
			r.State.Host.Virtualization.Evidence = make([]string, MaxEvidence+1)
		}, "state.host.virtualization.evidence: over 32 entries"},
		{"host.filesystems mountpoint missing", "full", func(r *Report) { r.State.Host.Filesystems[1].Mountpoint = "" }, "state.host.filesystems[1].mountpoint: missing"},
		{"host.filesystems too many", "full", func(r *Report) {
			r.State.Host.Filesystems = make([]model.Filesystem, MaxFilesystems+1)
		}, "state.host.filesystems: over 1024 entries"},
		{"host.interfaces name missing", "full", func(r *Report) { r.State.Host.Interfaces = []model.Interface{{MAC: "52:54:00:12:34:56"}} }, "state.host.interfaces[0].name: missing"},
		{"host.interfaces negative mtu", "full", func(r *Report) { r.State.Host.Interfaces = []model.Interface{{Name: "eth0", MTU: -1}} }, "state.host.interfaces[0].mtu: negative"},
		{"host.interfaces empty address", "full", func(r *Report) {
			r.State.Host.Interfaces = []model.Interface{{Name: "eth0", Addrs: []string{"10.0.0.1/8", ""}}}
		}, "state.host.interfaces[0].addrs[1]: missing"},
		{"host.labels too many", "full", func(r *Report) {
			for i := range MaxLabels {
				r.State.Host.Labels[fmt.Sprintf("k%d", i)] = "v"
			}
		}, "state.host.labels: 65 over the limit of 64"},
		{"host.labels key with a space", "full", func(r *Report) { r.State.Host.Labels["my env"] = "x" }, `state.host.labels: key "my env" must be`},
		{"host.labels key starting with a digit", "full", func(r *Report) { r.State.Host.Labels["9env"] = "x" }, `key "9env"`},
		{"host.labels key too long", "full", func(r *Report) { r.State.Host.Labels[long(64)] = "x" }, "state.host.labels: key"},

		{"package name missing", "full", func(r *Report) { r.State.Software[2].Name = "" }, "state.software[2].name: missing"},
		{"package version missing", "full", func(r *Report) { r.State.Software[0].Version = "" }, "state.software[0].version: missing"},
		{"package source upper-case", "full", func(r *Report) { r.State.Software[0].Source = "DEB" }, `state.software[0].source: "DEB" is not a package source name`},
		{"package source missing", "full", func(r *Report) { r.State.Software[0].Source = "" }, "state.software[0].source:"},
		{"package name too long", "full", func(r *Report) { r.State.Software[0].Name = long(257) }, "state.software[0].name: longer than 256 bytes"},
		{"package install_time before 1970", "full", func(r *Report) { r.State.Software[0].InstallTime = outOfRange[0] }, "state.software[0].install_time:"},
		{"too many packages", "full", func(r *Report) { r.State.Software = make([]model.Package, MaxSoftware+1) }, "state.software: 50001 packages over the limit of 50000"},
		{"service name missing", "full", func(r *Report) { r.State.Services[0].Name = "" }, "state.services[0].name: missing"},
		{"service manager missing", "full", func(r *Report) { r.State.Services[3].Manager = "" }, "state.services[3].manager: missing"},
		{"listener protocol", "full", func(r *Report) { r.State.Listeners[0].Protocol = "sctp" }, `state.listeners[0].protocol: "sctp" is not tcp, tcp6, udp or udp6`},
		{"listener address missing", "full", func(r *Report) { r.State.Listeners[1].Address = "" }, "state.listeners[1].address: missing"},
		{"listener pid negative", "full", func(r *Report) { r.State.Listeners[0].PID = -1 }, "state.listeners[0].pid: negative"},
		{"source state", "full", func(r *Report) { r.State.Sources[0].State = "broken" }, `state.sources[0].state: "broken" is not ok, not_present or error`},
		{"source name missing", "full", func(r *Report) { r.State.Sources[0].Name = "" }, "state.sources[0].name: missing"},
		{"source items negative", "full", func(r *Report) { r.State.Sources[0].Items = -1 }, "state.sources[0].count: negative"},
		{"too many sources", "full", func(r *Report) { r.State.Sources = make([]model.SourceStatus, MaxSources+1) }, "state.sources: over 64 entries"},

		{"delta host.id mismatch", "delta", func(r *Report) { r.Delta.Host.ID = "other" }, "delta.host.id:"},
		{"delta upsert name missing", "delta", func(r *Report) { r.Delta.SoftwareUpsert[0].Name = "" }, "delta.software_upsert[0].name: missing"},
		{"delta remove version missing", "delta", func(r *Report) { r.Delta.SoftwareRemove[0].Version = "" }, "delta.software_remove[0].version: missing"},
		{"delta remove bad source", "delta", func(r *Report) { r.Delta.SoftwareRemove[0].Source = "x y" }, "delta.software_remove[0].source:"},
		{"delta service upsert name missing", "delta", func(r *Report) { r.Delta.ServicesUpsert = []model.Service{{Manager: "systemd"}} }, "delta.services_upsert[0].name: missing"},
		{"delta service remove manager missing", "delta", func(r *Report) { r.Delta.ServicesRemove = []ServiceKey{{Name: "a.service"}} }, "delta.services_remove[0].manager: missing"},
		{"delta listeners without the flag", "delta", func(r *Report) { r.Delta.Listeners = []model.Listener{{Protocol: "tcp", Address: "::", Port: 1}} }, "delta.listeners: present without listeners_changed"},
		{"delta listener protocol", "delta", func(r *Report) {
			r.Delta.ListenersChange, r.Delta.Listeners = true, []model.Listener{{Protocol: "raw", Address: "::"}}
		}, "delta.listeners[0].protocol:"},
		{"delta sources without the flag", "delta", func(r *Report) { r.Delta.Sources = []model.SourceStatus{{Name: "dpkg", State: "ok"}} }, "delta.sources: present without sources_changed"},
		{"delta source state", "delta", func(r *Report) {
			r.Delta.SourcesChange, r.Delta.Sources = true, []model.SourceStatus{{Name: "dpkg", State: "OK"}}
		}, "delta.sources[0].state:"},
		{"delta too many changes", "delta", func(r *Report) { r.Delta.SoftwareRemove = make([]PackageKey, 2*MaxSoftware+1) }, "software changes over the limit of 100000"},

		{"capacity collected_at out of range", "heartbeat", func(r *Report) { r.Capacity.CollectedAt = outOfRange[1] }, "capacity.collected_at:"},
		{"capacity mountpoint missing", "heartbeat", func(r *Report) { r.Capacity.Filesystems = []FilesystemUse{{UsedBytes: 1}} }, "capacity.filesystems[0].mountpoint: missing"},
		{"capacity negative duration", "full", func(r *Report) { r.Capacity.SourceDurationSecs = -1 }, "capacity.source_duration_seconds: negative"},

		{"event type unknown", "full", func(r *Report) { r.Events[1].Type = "updated" }, `events[1].type: "updated" is not installed, removed, upgraded or downgraded`},
		{"event type missing", "full", func(r *Report) { r.Events[0].Type = "" }, "events[0].type:"},
		{"event source", "full", func(r *Report) { r.Events[0].Source = "Deb" }, "events[0].source:"},
		{"event name missing", "full", func(r *Report) { r.Events[0].Name = "" }, "events[0].name: missing"},
		{"event time missing", "full", func(r *Report) { r.Events[0].Time = time.Time{} }, "events[0].time: missing"},
		{"event time before 1970", "delta", func(r *Report) { r.Events[0].Time = outOfRange[0] }, "events[0].time: 1969-12-31T23:59:59Z is out of range"},
		{"event time after 9999", "full", func(r *Report) { r.Events[0].Time = outOfRange[1] }, "events[0].time:"},
		{"event detected_at out of range", "full", func(r *Report) { r.Events[0].DetectedAt = outOfRange[0] }, "events[0].detected_at:"},
		{"too many events", "heartbeat", func(r *Report) { r.Events = make([]Event, MaxEvents+1) }, "events: 100001 over the limit of 100000"},
		{"events_dropped negative", "heartbeat", func(r *Report) { r.EventsDropped = -1 }, "events_dropped: negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testReports(t)[tc.kind]
			if tc.kind == "full" {
				r.State.Host.Interfaces = []model.Interface{{Name: "eth0", Addrs: []string{"192.0.2.10/24"}}}
			}
			if err := Validate(r); err != nil {
				t.Fatalf("the report to start from is not valid: %v", err)
			}
			tc.mutate(r)
			err := Validate(r)
			if err == nil {
				t.Fatalf("Validate succeeded, want %q", tc.msg)
			}
			if e := asError(t, err); e.Status != http.StatusBadRequest || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("Validate: %d %q, want 400 and %q", e.Status, e.Msg, tc.msg)
			}
		})
	}
}

func TestValidHostID(t *testing.T) {
	for id, want := range map[string]bool{
		"5c0f5d2e8f6a4b1c9e3d7a2b4c6d8e0f":     true,
		"7d2e5f3a-1b4c-4d6e-8f9a-0b1c2d3e4f5a": true,
		"web-01.prod.example.com":              true,
		"a":                                    true,
		"host_1:2":                             true,
		strings.Repeat("a", 128):               true,
		strings.Repeat("a", 129):               false,
		"":                                     false,
		"<generated>":                          false,
		"-web":                                 false,
		"_web":                                 false,
		"web 01":                               false,
		"web/01":                               false,
		"wéb":                                  false,
		"web\n":                                false,
	} {
		if got := ValidHostID(id); got != want {
			t.Errorf("ValidHostID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestValidateEnroll(t *testing.T) {
	valid := EnrollRequest{EnrollSecret: "s3cret", HostID: "5c0f5d2e8f6a4b1c9e3d7a2b4c6d8e0f", Hostname: "web-01", AgentVersion: "0.1.0"}
	cases := []struct {
		name   string
		mutate func(*EnrollRequest)
		msg    string // "" for valid
	}{
		{"valid", func(*EnrollRequest) {}, ""},
		{"no hostname or version", func(r *EnrollRequest) { r.Hostname, r.AgentVersion = "", "" }, ""},
		{"longest secret", func(r *EnrollRequest) { r.EnrollSecret = strings.Repeat("s", MaxCredentialLn) }, ""},
		{"secret missing", func(r *EnrollRequest) { r.EnrollSecret = "" }, "enroll_secret: missing"},
		{"secret too long", func(r *EnrollRequest) { r.EnrollSecret = strings.Repeat("s", MaxCredentialLn+1) }, "enroll_secret: longer than 512 bytes"},
		{"host_id missing", func(r *EnrollRequest) { r.HostID = "" }, "host_id: missing"},
		{"host_id bad", func(r *EnrollRequest) { r.HostID = "<generated>" }, `host_id: "<generated>" must be`},
		{"hostname control character", func(r *EnrollRequest) { r.Hostname = "web\x00" }, "hostname: control character U+0000"},
		{"hostname invalid UTF-8", func(r *EnrollRequest) { r.Hostname = "\xfe" }, "hostname: not valid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := valid
			tc.mutate(&r)
			err := ValidateEnroll(&r)
			switch {
			case tc.msg == "" && err != nil:
				t.Errorf("ValidateEnroll: %v", err)
			case tc.msg == "":
			case err == nil:
				t.Errorf("ValidateEnroll succeeded, want %q", tc.msg)
			default:
				if e := asError(t, err); e.Status != http.StatusBadRequest || !strings.Contains(e.Msg, tc.msg) {
					t.Errorf("ValidateEnroll: %d %q, want 400 and %q", e.Status, e.Msg, tc.msg)
				}
			}
		})
	}
}

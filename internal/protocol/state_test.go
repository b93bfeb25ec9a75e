package protocol

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

// withCapacity gives an inventory volatile figures to move: the fixtures record none on
// their filesystems.
func withCapacity(inv *model.Inventory) {
	for i := range inv.Host.Filesystems {
		fs := &inv.Host.Filesystems[i]
		fs.UsedBytes = uint64(i+1) << 30
		fs.FreeBytes = 7 << 30
	}
	for i := range inv.Sources {
		inv.Sources[i].Duration = 0.25 * float64(i+1)
	}
	inv.Host.Memory.AvailableBytes = 3 << 30
	inv.Host.Memory.SwapFreeBytes = 1 << 30
}

func TestFromInventory(t *testing.T) {
	for _, name := range goldenNames {
		t.Run(name, func(t *testing.T) {
			inv := fixture.Golden(t, name)
			withCapacity(inv)
			inv.Host.Interfaces = []model.Interface{
				{Name: "eth1", Up: true, Addrs: []string{"198.51.100.7/24", "192.0.2.10/24"}},
				{Name: "eth0", MAC: "52:54:00:12:34:56", MTU: 1500, Up: true, Addrs: []string{}},
			}
			slices.Reverse(inv.Software)
			before := mustJSON(t, inv)

			st, c := FromInventory(inv)

			if after := mustJSON(t, inv); after != before {
				t.Errorf("FromInventory changed its input:\n%s\n%s", before, after)
			}
			h := st.Host
			if h.Memory.AvailableBytes != 0 || h.Memory.SwapFreeBytes != 0 {
				t.Errorf("state memory = %+v, want volatile figures zeroed", h.Memory)
			}
			if h.Memory.TotalBytes != inv.Host.Memory.TotalBytes || h.Memory.SwapTotalBytes != inv.Host.Memory.SwapTotalBytes {
				t.Errorf("state memory = %+v, want the totals kept", h.Memory)
			}
			if c.MemoryAvailable != 3<<30 || c.SwapFree != 1<<30 {
				t.Errorf("capacity = %+v, want memory figures moved there", c)
			}
			if len(c.Filesystems) != len(inv.Host.Filesystems) || len(h.Filesystems) != len(inv.Host.Filesystems) {
				t.Fatalf("%d filesystems in the capacity, %d in the state, want %d", len(c.Filesystems), len(h.Filesystems), len(inv.Host.Filesystems))
			}
			for i, fs := range inv.Host.Filesystems {
				if want := (FilesystemUse{Mountpoint: fs.Mountpoint, UsedBytes: fs.UsedBytes, FreeBytes: fs.FreeBytes}); c.Filesystems[i] != want {
					t.Errorf("capacity.filesystems[%d] = %+v, want %+v", i, c.Filesystems[i], want)
				}
			}
			for i, fs := range h.Filesystems {
				if fs.UsedBytes != 0 || fs.FreeBytes != 0 || fs.TotalBytes != inv.Host.Filesystems[i].TotalBytes {
					t.Errorf("state filesystem %+v, want used and free zeroed, total kept", fs)
				}
			}
			var sum float64
			for _, s := range inv.Sources {
				sum += s.Duration
			}
			if c.SourceDurationSecs != sum {
				t.Errorf("capacity source duration %v, want %v", c.SourceDurationSecs, sum)
			}
			for _, s := range st.Sources {
				if s.Duration != 0 {
					t.Errorf("source %s duration %v in the state", s.Name, s.Duration)
				}
			}
			if !c.CollectedAt.Equal(inv.CollectedAt) || c.CollectedAt.Location() != time.UTC {
				t.Errorf("collected at %v, want %v in UTC", c.CollectedAt, inv.CollectedAt)
			}
			if !slices.IsSortedFunc(st.Software, model.ComparePackages) || len(st.Software) != len(inv.Software) {
				t.Errorf("software not sorted or not complete")
			}
			if got := st.Host.Interfaces; len(got) != 2 || got[0].Name != "eth0" || got[0].Addrs != nil ||
				!slices.Equal(got[1].Addrs, []string{"192.0.2.10/24", "198.51.100.7/24"}) {
				t.Errorf("interfaces %+v, want sorted by name, addresses sorted, empty lists nil", got)
			}
			if Hash(&st) != Hash(cloneJSON(t, &st)) {
				t.Errorf("state's hash changes over a JSON round trip")
			}
		})
	}
}

// hashOf returns the hash of an inventory's state.
func hashOf(inv *model.Inventory) string {
	st, _ := FromInventory(inv)
	return Hash(&st)
}

func TestHashStable(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	same := []struct {
		name   string
		mutate func(*model.Inventory)
	}{
		{"lists reversed", func(inv *model.Inventory) {
			slices.Reverse(inv.Software)
			slices.Reverse(inv.Services)
			slices.Reverse(inv.Listeners)
			slices.Reverse(inv.Sources)
			slices.Reverse(inv.Host.Filesystems)
			slices.Reverse(inv.Host.Virtualization.Evidence)
		}},
		{"lists shuffled", func(inv *model.Inventory) {
			r := rand.New(rand.NewPCG(1, 2))
			r.Shuffle(len(inv.Software), func(i, j int) { inv.Software[i], inv.Software[j] = inv.Software[j], inv.Software[i] })
			r.Shuffle(len(inv.Services), func(i, j int) { inv.Services[i], inv.Services[j] = inv.Services[j], inv.Services[i] })
			r.Shuffle(len(inv.Listeners), func(i, j int) { inv.Listeners[i], inv.Listeners[j] = inv.Listeners[j], inv.Listeners[i] })
		}},
		{"times in another zone", func(inv *model.Inventory) {
			for i := range inv.Software {
				inv.Software[i].InstallTime = inv.Software[i].InstallTime.In(cet)
			}
			inv.Host.BootTime = inv.Host.BootTime.In(cet)
		}},
		{"sub-second times", func(inv *model.Inventory) {
			for i := range inv.Software {
				if !inv.Software[i].InstallTime.IsZero() {
					inv.Software[i].InstallTime = inv.Software[i].InstallTime.Add(999 * time.Millisecond)
				}
			}
			if !inv.Host.BootTime.IsZero() {
				inv.Host.BootTime = inv.Host.BootTime.Add(123456789)
			}
		}},
		{"empty lists instead of nil", func(inv *model.Inventory) {
			if inv.Services == nil {
				inv.Services = []model.Service{}
			}
			if inv.Listeners == nil {
				inv.Listeners = []model.Listener{}
			}
			if inv.Host.Filesystems == nil {
				inv.Host.Filesystems = []model.Filesystem{}
			}
			if inv.Host.Interfaces == nil {
				inv.Host.Interfaces = []model.Interface{}
			}
			if inv.Host.Virtualization.Evidence == nil {
				inv.Host.Virtualization.Evidence = []string{}
			}
			for i := range inv.Host.Interfaces {
				if inv.Host.Interfaces[i].Addrs == nil {
					inv.Host.Interfaces[i].Addrs = []string{}
				}
			}
		}},
		{"no labels", func(inv *model.Inventory) {
			// The fixtures have labels: compare an empty map with nil on a copy.
			inv.Host.Labels = map[string]string{}
		}},
		{"volatile figures", func(inv *model.Inventory) {
			withCapacity(inv)
			inv.CollectedAt = inv.CollectedAt.Add(time.Hour)
		}},
		{"package listed twice", func(inv *model.Inventory) {
			if len(inv.Software) > 0 {
				inv.Software = append(inv.Software, inv.Software[len(inv.Software)/2])
			}
		}},
		{"JSON fields reordered", func(inv *model.Inventory) {
			// Encoding through maps puts every object's fields in alphabetical order.
			var m map[string]any
			decodeInto(t, mustJSON(t, inv), &m)
			*inv = model.Inventory{}
			decodeInto(t, mustJSON(t, m), inv)
		}},
	}
	for _, name := range goldenNames {
		want := hashOf(fixture.Golden(t, name))
		for _, tc := range same {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				inv := fixture.Golden(t, name)
				want := want
				if tc.name == "no labels" {
					ref := fixture.Golden(t, name)
					ref.Host.Labels = nil
					want = hashOf(ref)
				}
				tc.mutate(inv)
				if got := hashOf(inv); got != want {
					t.Errorf("hash %s, want %s", got, want)
				}
			})
		}
	}

	differ := []struct {
		name   string
		mutate func(*model.Inventory)
	}{
		{"package version", func(inv *model.Inventory) { inv.Software[0].Version += ".1" }},
		{"package install time", func(inv *model.Inventory) {
			inv.Software[0].InstallTime = inv.Software[0].InstallTime.Add(time.Second)
		}},
		{"package state", func(inv *model.Inventory) { inv.Software[0].State = "half-configured" }},
		{"package removed", func(inv *model.Inventory) { inv.Software = inv.Software[1:] }},
		{"service state", func(inv *model.Inventory) { inv.Services[0].ActiveState = "failed" }},
		{"listener added", func(inv *model.Inventory) {
			inv.Listeners = append(inv.Listeners, model.Listener{Protocol: "tcp", Address: "0.0.0.0", Port: 8080})
		}},
		{"source state", func(inv *model.Inventory) { inv.Sources[1].State = "error" }},
		{"label", func(inv *model.Inventory) { inv.Host.Labels["env"] = "prod" }},
		{"kernel", func(inv *model.Inventory) { inv.Host.Kernel = "6.1.0-22-amd64" }},
		{"filesystem size", func(inv *model.Inventory) { inv.Host.Filesystems[0].TotalBytes++ }},
		{"memory size", func(inv *model.Inventory) { inv.Host.Memory.TotalBytes += 4096 }},
	}
	want := hashOf(fixture.Golden(t, "debian12"))
	for _, tc := range differ {
		t.Run("debian12/"+tc.name, func(t *testing.T) {
			inv := fixture.Golden(t, "debian12")
			tc.mutate(inv)
			if got := hashOf(inv); got == want {
				t.Errorf("hash unchanged")
			}
		})
	}
}

func decodeInto(tb testing.TB, s string, v any) {
	tb.Helper()
	if err := Decode(strings.NewReader(s), "", Limits{}, v); err != nil {
		tb.Fatal(err)
	}
}

// stateOf returns the normalized state of an inventory.
func stateOf(inv *model.Inventory) *State {
	st, _ := FromInventory(inv)
	return &st
}

// checkDiffApply checks that the delta from old to new, applied to old, gives new, and
// that neither Diff nor Apply touches its arguments.
func checkDiffApply(t testing.TB, old, new *State) *Delta {
	t.Helper()
	oldJSON, newJSON := mustJSON(t, old), mustJSON(t, new)
	d := Diff(old, new)
	if d == nil {
		if Hash(old) != Hash(new) || oldJSON != newJSON {
			t.Fatalf("Diff found no change between different states")
		}
		return nil
	}
	deltaJSON := mustJSON(t, d)
	// Send the delta over the wire, as the agent does.
	d = cloneJSON(t, d)
	got := Apply(old, d)
	if Hash(&got) != Hash(new) {
		t.Errorf("Hash(Apply(old, Diff(old, new))) = %s, want %s\ndelta: %s", Hash(&got), Hash(new), deltaJSON)
	}
	if g := mustJSON(t, &got); g != newJSON {
		t.Errorf("Apply(old, Diff(old, new)) =\n%s\nwant\n%s\ndelta: %s", g, newJSON, deltaJSON)
	}
	if mustJSON(t, old) != oldJSON || mustJSON(t, new) != newJSON {
		t.Errorf("Diff or Apply changed their arguments")
	}
	if mustJSON(t, d) != deltaJSON {
		t.Errorf("Apply changed the delta")
	}
	if again := Diff(&got, new); again != nil {
		t.Errorf("Diff(Apply(...), new) = %s, want nil", mustJSON(t, again))
	}
	return d
}

// sideBySide returns another version of a package, installed beside it.
func sideBySide(p model.Package, version string, installed time.Time) model.Package {
	p.Version, p.InstallTime = version, installed
	return p
}

func TestDiffApply(t *testing.T) {
	later := time.Date(2026, 1, 3, 4, 5, 6, 0, time.UTC)
	newPkg := func(inv *model.Inventory) model.Package {
		return model.Package{Source: inv.Software[0].Source, Name: "zz-new-tool", Version: "1.0-1", Arch: "noarch", InstallTime: later, PackageInfo: model.PackageInfo{Summary: "A new tool"}}
	}
	cases := []struct {
		name   string
		mutate func(*model.Inventory)
		// check looks at the delta; nil means no delta is expected.
		check func(t *testing.T, d *Delta)
	}{
		{"no change", func(*model.Inventory) {}, nil},
		{"only volatile figures", func(inv *model.Inventory) {
			withCapacity(inv)
			inv.CollectedAt = later
		}, nil},
		{"package added", func(inv *model.Inventory) { inv.Software = append(inv.Software, newPkg(inv)) },
			func(t *testing.T, d *Delta) { wantCounts(t, d, 1, 0, 0, 0) }},
		{"package removed", func(inv *model.Inventory) { inv.Software = slices.Delete(inv.Software, 1, 2) },
			func(t *testing.T, d *Delta) { wantCounts(t, d, 0, 1, 0, 0) }},
		{"package upgraded", func(inv *model.Inventory) {
			inv.Software[0].Version += ".1"
			inv.Software[0].InstallTime = later
		}, func(t *testing.T, d *Delta) { wantCounts(t, d, 1, 1, 0, 0) }},
		{"package reinstalled", func(inv *model.Inventory) { inv.Software[0].InstallTime = later },
			func(t *testing.T, d *Delta) { wantCounts(t, d, 1, 0, 0, 0) }},
		{"package summary", func(inv *model.Inventory) { inv.Software[0].Summary = "Changed" },
			func(t *testing.T, d *Delta) { wantCounts(t, d, 1, 0, 0, 0) }},
		{"second kernel side by side", func(inv *model.Inventory) {
			inv.Software = append(inv.Software, sideBySide(inv.Software[0], inv.Software[0].Version+".1", later))
		}, func(t *testing.T, d *Delta) { wantCounts(t, d, 1, 0, 0, 0) }},
		{"all software gone", func(inv *model.Inventory) { inv.Software = nil },
			func(t *testing.T, d *Delta) {
				if len(d.SoftwareRemove) == 0 || len(d.SoftwareUpsert) != 0 {
					t.Errorf("delta %+v", d)
				}
			}},
		{"service added", func(inv *model.Inventory) {
			inv.Services = append(inv.Services, model.Service{Manager: "systemd", Name: "zz.service", ActiveState: "active"})
		}, func(t *testing.T, d *Delta) { wantCounts(t, d, 0, 0, 1, 0) }},
		{"service removed", func(inv *model.Inventory) { inv.Services = inv.Services[min(1, len(inv.Services)):] }, func(t *testing.T, d *Delta) {
			if len(d.ServicesRemove) != 1 {
				t.Errorf("delta %s, want one service removed", mustJSON(t, d))
			}
		}},
		{"service stopped", func(inv *model.Inventory) {
			if len(inv.Services) > 0 {
				inv.Services[0].ActiveState, inv.Services[0].SubState = "failed", "failed"
			} else {
				inv.Services = []model.Service{{Manager: "systemd", Name: "a.service"}}
			}
		}, func(t *testing.T, d *Delta) { wantCounts(t, d, 0, 0, 1, 0) }},
		{"listener added", func(inv *model.Inventory) {
			inv.Listeners = append(inv.Listeners, model.Listener{Protocol: "tcp6", Address: "::", Port: 9100, PID: 4242, Process: "node_exporter"})
		}, func(t *testing.T, d *Delta) {
			if !d.ListenersChange || d.SourcesChange || d.Host != nil {
				t.Errorf("delta %s, want only the listeners", mustJSON(t, d))
			}
		}},
		{"listeners replaced", func(inv *model.Inventory) {
			inv.Listeners = []model.Listener{{Protocol: "udp", Address: "0.0.0.0", Port: 68}}
		}, func(t *testing.T, d *Delta) {
			if !d.ListenersChange || len(d.Listeners) != 1 {
				t.Errorf("delta %s, want the one new listener", mustJSON(t, d))
			}
		}},
		{"listeners gone", func(inv *model.Inventory) { inv.Listeners = nil }, func(t *testing.T, d *Delta) {
			if !d.ListenersChange || d.Listeners != nil {
				t.Errorf("delta %s, want listeners changed to none", mustJSON(t, d))
			}
		}},
		{"source failed", func(inv *model.Inventory) {
			inv.Sources[len(inv.Sources)-1].State = "error"
			inv.Sources[len(inv.Sources)-1].Error = "reading /proc/net/tcp: permission denied"
		}, func(t *testing.T, d *Delta) {
			if !d.SourcesChange || d.ListenersChange {
				t.Errorf("delta %s, want only the sources", mustJSON(t, d))
			}
		}},
		{"host facts", func(inv *model.Inventory) {
			inv.Host.Kernel = "6.1.0-22-amd64"
			inv.Host.BootTime = later
			inv.Host.Labels = map[string]string{"env": "prod", "team": "db"}
		}, func(t *testing.T, d *Delta) {
			if d.Host == nil || d.Host.Kernel != "6.1.0-22-amd64" {
				t.Errorf("delta %s, want the new host facts", mustJSON(t, d))
			}
		}},
		{"interfaces appear", func(inv *model.Inventory) {
			inv.Host.Interfaces = []model.Interface{{Name: "eth0", Up: true, Addrs: []string{"192.0.2.10/24", "2001:db8::10/64"}}}
		}, func(t *testing.T, d *Delta) {
			if d.Host == nil || len(d.Host.Interfaces) != 1 {
				t.Errorf("delta %s", mustJSON(t, d))
			}
		}},
	}
	for _, name := range goldenNames {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				old := stateOf(fixture.Golden(t, name))
				inv := fixture.Golden(t, name)
				tc.mutate(inv)
				new := stateOf(inv)
				d := checkDiffApply(t, old, new)
				switch {
				case tc.check == nil || mustJSON(t, old) == mustJSON(t, new):
					// Nothing to change on this host (no services, no listeners) is no change.
					if d != nil {
						t.Errorf("delta %s, want none", mustJSON(t, d))
					}
				case d == nil:
					t.Fatalf("no delta")
				default:
					tc.check(t, d)
				}
			})
		}
	}
}

func wantCounts(t *testing.T, d *Delta, swUp, swRm, svcUp, svcRm int) {
	t.Helper()
	if len(d.SoftwareUpsert) != swUp || len(d.SoftwareRemove) != swRm || len(d.ServicesUpsert) != svcUp || len(d.ServicesRemove) != svcRm {
		t.Errorf("delta %s, want %d software upserts, %d removals, %d service upserts, %d removals",
			mustJSON(t, d), swUp, swRm, svcUp, svcRm)
	}
	if d.Host != nil || d.ListenersChange || d.SourcesChange {
		t.Errorf("delta %s changes more than software and services", mustJSON(t, d))
	}
}

// mutator changes an inventory step by step, from a byte string: the generator of random
// and fuzzed states. Packages come from all fixture hosts.
type mutator struct {
	pool []model.Package
	data []byte
}

func newMutator(tb testing.TB) *mutator {
	m := &mutator{}
	for _, name := range goldenNames {
		m.pool = append(m.pool, fixture.Golden(tb, name).Software...)
	}
	return m
}

func (m *mutator) byte() int {
	if len(m.data) == 0 {
		return 0
	}
	b := m.data[0]
	m.data = m.data[1:]
	return int(b)
}

func (m *mutator) index(n int) int {
	if n == 0 {
		return 0
	}
	return (m.byte()<<8 | m.byte()) % n
}

// mutate applies the changes data describes to inv.
func (m *mutator) mutate(inv *model.Inventory, data []byte) {
	m.data = data
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for len(m.data) > 0 {
		op := m.byte() % 16
		sw := inv.Software
		switch {
		case op == 0 && len(sw) > 0:
			i := m.index(len(sw))
			inv.Software = slices.Delete(sw, i, i+1)
		case op == 1:
			inv.Software = append(sw, m.pool[m.index(len(m.pool))])
		case op == 2 && len(sw) > 0:
			i := m.index(len(sw))
			sw[i].Version = fmt.Sprintf("%s.%d", sw[i].Version, m.byte())
			sw[i].InstallTime = base.Add(time.Duration(m.byte()) * time.Hour)
		case op == 3 && len(sw) > 0:
			// Install-only package: another version beside the first.
			p := sw[m.index(len(sw))]
			inv.Software = append(sw, sideBySide(p, fmt.Sprintf("%s-%d", p.Version, m.byte()), base))
		case op == 4 && len(sw) > 0:
			sw[m.index(len(sw))].InstallTime = base.Add(time.Duration(m.byte()) * time.Minute)
		case op == 5 && len(sw) > 0:
			sw[m.index(len(sw))].Summary = fmt.Sprintf("summary %d", m.byte())
		case op == 6 && len(inv.Services) > 0:
			i := m.index(len(inv.Services))
			inv.Services = slices.Delete(inv.Services, i, i+1)
		case op == 7:
			inv.Services = append(inv.Services, model.Service{Manager: "systemd", Name: fmt.Sprintf("s%d.service", m.byte())})
		case op == 8 && len(inv.Services) > 0:
			inv.Services[m.index(len(inv.Services))].ActiveState = []string{"active", "inactive", "failed"}[m.byte()%3]
		case op == 9:
			inv.Listeners = append(inv.Listeners, model.Listener{Protocol: "tcp", Address: "0.0.0.0", Port: uint16(m.byte()), PID: m.byte()})
		case op == 10 && len(inv.Listeners) > 0:
			i := m.index(len(inv.Listeners))
			inv.Listeners = slices.Delete(inv.Listeners, i, i+1)
		case op == 11 && len(inv.Sources) > 0:
			s := &inv.Sources[m.index(len(inv.Sources))]
			s.State, s.Items = []string{"ok", "not_present", "error"}[m.byte()%3], m.byte()
		case op == 12:
			inv.Host.Hostname = fmt.Sprintf("host-%d", m.byte())
		case op == 13:
			if inv.Host.Labels == nil {
				inv.Host.Labels = map[string]string{}
			}
			inv.Host.Labels[fmt.Sprintf("k%d", m.byte()%4)] = fmt.Sprint(m.byte())
		case op == 14:
			inv.Host.Interfaces = append(inv.Host.Interfaces, model.Interface{Name: fmt.Sprintf("eth%d", m.byte()%3), Addrs: []string{fmt.Sprintf("10.0.0.%d/8", m.byte())}})
		case op == 15 && len(sw) > 1:
			// Same package listed twice by its database.
			inv.Software = append(sw, sw[m.index(len(sw))])
		}
	}
}

// cloneInventory returns a copy of inv that shares no slice or map with it.
func cloneInventory(inv *model.Inventory) *model.Inventory {
	c := *inv
	c.Host = cloneHost(&inv.Host)
	c.Software = slices.Clone(inv.Software)
	c.Services = slices.Clone(inv.Services)
	c.Listeners = slices.Clone(inv.Listeners)
	c.Sources = slices.Clone(inv.Sources)
	return &c
}

// TestDiffApplyRandom walks random sequences of states made from the fixture hosts.
func TestDiffApplyRandom(t *testing.T) {
	m := newMutator(t)
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 150 {
		name := goldenNames[i%len(goldenNames)]
		inv := fixture.Golden(t, name)
		old := stateOf(inv)
		steps := make([]byte, r.IntN(40))
		for j := range steps {
			steps[j] = byte(r.Uint32())
		}
		m.mutate(inv, steps)
		new := stateOf(inv)
		t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) {
			checkDiffApply(t, old, new)
			checkDiffApply(t, new, old)
			checkEvents(t, old, new)
		})
	}
}

// checkEvents checks what must hold for any two states: the events are ordered by time and
// account for every change of versions.
func checkEvents(t testing.TB, old, new *State) {
	t.Helper()
	detected := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	evs := Events(old, new, detected)
	if !slices.IsSortedFunc(evs, func(a, b Event) int { return a.Time.Compare(b.Time) }) {
		t.Errorf("events not ordered by time")
	}
	// Replaying the events on the old versions must give the new ones.
	have := map[PackageKey]bool{}
	for _, p := range old.Software {
		have[Key(p)] = true
	}
	for _, e := range evs {
		k := PackageKey{Source: e.Source, Name: e.Name, Arch: e.Arch}
		switch e.Type {
		case EventInstalled:
			k.Version = e.Version
			have[k] = true
		case EventRemoved:
			k.Version = e.Version
			delete(have, k)
		case EventUpgraded, EventDowngraded:
			k.Version = e.PreviousVersion
			delete(have, k)
			k.Version = e.Version
			have[k] = true
		}
		if e.Time.After(detected) || !e.DetectedAt.Equal(detected) {
			t.Errorf("event %+v: time after detection", e)
		}
	}
	want := map[PackageKey]bool{}
	for _, p := range new.Software {
		want[Key(p)] = true
	}
	if len(have) != len(want) {
		t.Errorf("events turn %d packages into %d, want %d", len(old.Software), len(have), len(want))
	}
	for k := range want {
		if !have[k] {
			t.Errorf("events miss %+v", k)
		}
	}
	if e := Events(new, new, detected); e != nil {
		t.Errorf("Events(s, s) = %+v, want none", e)
	}
}

func TestApplyDuplicateUpsert(t *testing.T) {
	old := stateOf(fixture.Golden(t, "debian12"))
	p := old.Software[0]
	first, last := p, p
	first.Summary, last.Summary = "first", "last"
	got := Apply(old, &Delta{SoftwareUpsert: []model.Package{first, last}, SoftwareRemove: []PackageKey{Key(p)}})
	if len(got.Software) != len(old.Software) {
		t.Fatalf("%d packages, want %d", len(got.Software), len(old.Software))
	}
	if got.Software[0].Summary != "last" {
		t.Errorf("package %+v, want the last upsert", got.Software[0])
	}
}

// byAlice is p installed by alice through apt.
func byAlice(p model.Package) model.Package {
	p.InstalledBy, p.InstallCommand, p.Requested, p.Evidence = "alice", "apt install "+p.Name, model.RequestedExplicit, "apt-history"
	return p
}

// attributedEvent is e made by byAlice's installation.
func attributedEvent(e Event) Event {
	e.InstalledBy, e.InstallCommand, e.Requested, e.Evidence = "alice", "apt install "+e.Name, model.RequestedExplicit, "apt-history"
	return e
}

func TestEvents(t *testing.T) {
	detected := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	past := time.Date(2026, 1, 9, 8, 30, 0, 0, time.UTC)
	earlier := time.Date(2026, 1, 8, 8, 30, 0, 0, time.UTC)
	future := detected.Add(48 * time.Hour)
	deb := func(name, version, arch string, installed time.Time) model.Package {
		return model.Package{Source: "deb", Name: name, Version: version, Arch: arch, InstallTime: installed}
	}
	rpm := func(name, version string, installed time.Time) model.Package {
		return model.Package{Source: "rpm", Name: name, Version: version, Arch: "x86_64", InstallTime: installed}
	}
	ev := func(typ string, p model.Package, prev string, at time.Time) Event {
		return Event{Type: typ, Source: p.Source, Name: p.Name, Arch: p.Arch, Version: p.Version, PreviousVersion: prev, Time: at, DetectedAt: detected}
	}
	k1 := rpm("kernel-core", "5.14.0-362.8.1.el9_3", earlier)
	k2 := rpm("kernel-core", "5.14.0-427.13.1.el9_4", past)
	k3 := rpm("kernel-core", "5.14.0-427.16.1.el9_4", past)
	nginxOld, nginxNew := rpm("nginx", "1:1.20.1-14.el9_2.1", earlier), rpm("nginx", "1:1.20.1-16.el9_4.1", past)
	cases := []struct {
		name     string
		old, new []model.Package
		want     []Event
	}{
		{"nothing", nil, nil, nil},
		{"no change", []model.Package{k1}, []model.Package{k1}, nil},
		{"reinstall is no event", []model.Package{k1}, []model.Package{sideBySide(k1, k1.Version, past)}, nil},
		{"install at its install time",
			nil, []model.Package{deb("nginx", "1.22.1-9", "amd64", past)},
			[]Event{ev(EventInstalled, deb("nginx", "1.22.1-9", "amd64", past), "", past)}},
		{"install time in the future",
			nil, []model.Package{deb("nginx", "1.22.1-9", "amd64", future)},
			[]Event{ev(EventInstalled, deb("nginx", "1.22.1-9", "amd64", future), "", detected)}},
		{"install without install time",
			nil, []model.Package{deb("nginx", "1.22.1-9", "amd64", time.Time{})},
			[]Event{ev(EventInstalled, deb("nginx", "1.22.1-9", "amd64", time.Time{}), "", detected)}},
		{"install and upgrade say who made them; a removal says nothing of it",
			[]model.Package{byAlice(deb("curl", "7.88", "amd64", earlier)), byAlice(deb("jq", "1.6", "amd64", earlier))},
			[]model.Package{byAlice(deb("curl", "8.0", "amd64", past)), byAlice(deb("nginx", "1.22.1-9", "amd64", past))},
			[]Event{attributedEvent(ev(EventUpgraded, deb("curl", "8.0", "amd64", past), "7.88", past)),
				attributedEvent(ev(EventInstalled, deb("nginx", "1.22.1-9", "amd64", past), "", past)),
				ev(EventRemoved, deb("jq", "1.6", "amd64", past), "", detected)}},
		{"remove when detected",
			[]model.Package{deb("nginx", "1.22.1-9", "amd64", past)}, nil,
			[]Event{ev(EventRemoved, deb("nginx", "1.22.1-9", "amd64", past), "", detected)}},
		{"deb upgrade",
			[]model.Package{deb("openssh-server", "1:9.2p1-2+deb12u2", "amd64", earlier)},
			[]model.Package{deb("openssh-server", "1:9.2p1-2+deb12u3", "amd64", past)},
			[]Event{ev(EventUpgraded, deb("openssh-server", "1:9.2p1-2+deb12u3", "amd64", past), "1:9.2p1-2+deb12u2", past)}},
		{"deb upgrade out of a backport tilde",
			[]model.Package{deb("libssl3", "3.0.13-1~deb12u1", "amd64", earlier)},
			[]model.Package{deb("libssl3", "3.0.13-1", "amd64", past)},
			[]Event{ev(EventUpgraded, deb("libssl3", "3.0.13-1", "amd64", past), "3.0.13-1~deb12u1", past)}},
		{"deb downgrade",
			[]model.Package{deb("libc6", "2.36-9+deb12u7", "amd64", earlier)},
			[]model.Package{deb("libc6", "2.36-9+deb12u4", "amd64", past)},
			[]Event{ev(EventDowngraded, deb("libc6", "2.36-9+deb12u4", "amd64", past), "2.36-9+deb12u7", past)}},
		{"one architecture of two upgraded",
			[]model.Package{deb("libc6", "2.36-9+deb12u4", "amd64", earlier), deb("libc6", "2.36-9+deb12u4", "i386", earlier)},
			[]model.Package{deb("libc6", "2.36-9+deb12u7", "amd64", past), deb("libc6", "2.36-9+deb12u4", "i386", earlier)},
			[]Event{ev(EventUpgraded, deb("libc6", "2.36-9+deb12u7", "amd64", past), "2.36-9+deb12u4", past)}},
		{"rpm upgrade",
			[]model.Package{nginxOld}, []model.Package{nginxNew},
			[]Event{ev(EventUpgraded, nginxNew, nginxOld.Version, past)}},
		{"rpm downgrade across an epoch",
			[]model.Package{nginxOld}, []model.Package{rpm("nginx", "1.24.0-1.el9", past)},
			[]Event{ev(EventDowngraded, rpm("nginx", "1.24.0-1.el9", past), nginxOld.Version, past)}},
		{"kernel beside the running one",
			[]model.Package{k1}, []model.Package{k1, k2},
			[]Event{ev(EventInstalled, k2, "", past)}},
		{"kernel replaces the oldest of two",
			[]model.Package{k1, k2}, []model.Package{k2, k3},
			[]Event{ev(EventInstalled, k3, "", past), ev(EventRemoved, k1, "", detected)}},
		{"old kernel removed",
			[]model.Package{k1, k2}, []model.Package{k2},
			[]Event{ev(EventRemoved, k1, "", detected)}},
		{"apk release candidate to release",
			[]model.Package{{Source: "apk", Name: "openssl", Version: "3.3.0_rc1-r0", InstallTime: earlier}},
			[]model.Package{{Source: "apk", Name: "openssl", Version: "3.3.0-r0", InstallTime: past}},
			[]Event{{Type: EventUpgraded, Source: "apk", Name: "openssl", Version: "3.3.0-r0", PreviousVersion: "3.3.0_rc1-r0", Time: past, DetectedAt: detected}}},
		{"pacman beta to release",
			[]model.Package{{Source: "pacman", Name: "linux", Version: "6.10beta-1", Arch: "x86_64", InstallTime: earlier}},
			[]model.Package{{Source: "pacman", Name: "linux", Version: "6.10-1", Arch: "x86_64", InstallTime: past}},
			[]Event{{Type: EventUpgraded, Source: "pacman", Name: "linux", Arch: "x86_64", Version: "6.10-1", PreviousVersion: "6.10beta-1", Time: past, DetectedAt: detected}}},
		{"ordered by time",
			[]model.Package{deb("zsh", "5.9-4", "amd64", earlier), deb("bash", "5.2.15-2", "amd64", earlier)},
			[]model.Package{deb("bash", "5.2.15-2+b2", "amd64", past), deb("curl", "7.88.1-10", "amd64", earlier)},
			[]Event{
				ev(EventInstalled, deb("curl", "7.88.1-10", "amd64", earlier), "", earlier),
				ev(EventUpgraded, deb("bash", "5.2.15-2+b2", "amd64", past), "5.2.15-2", past),
				ev(EventRemoved, deb("zsh", "5.9-4", "amd64", earlier), "", detected),
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old, new := &State{Software: slices.Clone(tc.old)}, &State{Software: slices.Clone(tc.new)}
			Normalize(old)
			Normalize(new)
			// Detection times come from the agent's clock: any zone, any precision.
			got := Events(old, new, detected.Add(300*time.Millisecond).In(time.FixedZone("EST", -5*3600)))
			if g, w := mustJSON(t, got), mustJSON(t, tc.want); g != w {
				t.Errorf("Events =\n%s\nwant\n%s", g, w)
			}
			for _, e := range got {
				if e.Time.Location() != time.UTC || e.DetectedAt.Location() != time.UTC {
					t.Errorf("event %+v: times not in UTC", e)
				}
			}
		})
	}
}

// TestEventsGoldens lists a whole fixture host's software as installs and removals.
func TestEventsGoldens(t *testing.T) {
	for _, name := range goldenNames {
		st := stateOf(fixture.Golden(t, name))
		detected := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		evs := Events(&State{}, st, detected)
		if len(evs) != len(st.Software) {
			t.Errorf("%s: %d events for %d packages", name, len(evs), len(st.Software))
		}
		for _, e := range evs {
			if e.Type != EventInstalled {
				t.Errorf("%s: event %+v, want installs only", name, e)
			}
		}
		checkEvents(t, &State{}, st)
		checkEvents(t, st, &State{})
	}
}

// FuzzDiffApply derives two states from a fixture host by the changes a and b describe and
// checks that the delta between them turns one into the other.
func FuzzDiffApply(f *testing.F) {
	f.Add(uint8(3), []byte{}, []byte{})
	f.Add(uint8(3), []byte{1, 0, 5}, []byte{2, 0, 1, 7, 9})
	f.Add(uint8(6), []byte{3, 0, 1, 3, 0, 1}, []byte{0, 0, 1, 3, 0, 2, 10, 0, 0})
	f.Add(uint8(0), []byte{15, 0, 3, 11, 0, 2, 1}, []byte{13, 1, 2, 14, 2, 9, 12, 3, 4, 0, 6})
	m := newMutator(f)
	bases := make([]*model.Inventory, len(goldenNames))
	for i, name := range goldenNames {
		bases[i] = fixture.Golden(f, name)
	}
	f.Fuzz(func(t *testing.T, host uint8, a, b []byte) {
		if len(a) > 512 || len(b) > 512 {
			return
		}
		base := bases[int(host)%len(bases)]
		invA, invB := cloneInventory(base), cloneInventory(base)
		m.mutate(invA, a)
		m.mutate(invB, b)
		old, new := stateOf(invA), stateOf(invB)
		checkDiffApply(t, old, new)
		checkEvents(t, old, new)
	})
}

// TestNormalizeTimesOutOfRange checks that times a report could not carry count as none.
func TestNormalizeTimesOutOfRange(t *testing.T) {
	for _, bad := range []time.Time{
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -23*3600)),
	} {
		t.Run(bad.String(), func(t *testing.T) {
			inv, want := fixture.Golden(t, "debian12"), fixture.Golden(t, "debian12")
			inv.Software[0].InstallTime, want.Software[0].InstallTime = bad, time.Time{}
			inv.Host.BootTime, want.Host.BootTime = bad, time.Time{}
			if hashOf(inv) != hashOf(want) {
				t.Errorf("hash differs from the state without the times")
			}
			if err := Validate(reportFor(t, inv)); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestApplyUnsortedBase: a delta applied to a state whose software is out of order (one not
// normalized) still gives the software sorted, the upserts in their places.
func TestApplyUnsortedBase(t *testing.T) {
	pkg := func(name, version string) model.Package {
		return model.Package{Source: "deb", Name: name, Version: version}
	}
	old := &State{Software: []model.Package{pkg("zsh", "5"), pkg("bash", "5.2"), pkg("curl", "7")}}
	d := &Delta{SoftwareUpsert: []model.Package{pkg("vim", "9"), pkg("awk", "1")}, SoftwareRemove: []PackageKey{Key(pkg("curl", "7"))}}
	got := Apply(old, d)
	var names []string
	for _, p := range got.Software {
		names = append(names, p.Name)
	}
	if want := []string{"awk", "bash", "vim", "zsh"}; !slices.Equal(names, want) {
		t.Fatalf("got %q, want %q", names, want)
	}
}

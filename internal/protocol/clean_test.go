package protocol

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

func TestCleanText(t *testing.T) {
	long := strings.Repeat("a", 300)
	cases := []struct {
		name, in string
		max      int
		want     string
	}{
		{"clean", "nginx: high performance web server", 256, "nginx: high performance web server"},
		{"empty", "", 256, ""},
		{"tab stays", "a\tb", 256, "a\tb"},
		{"non-ASCII stays", "Zoë «quoted» — 日本", 256, "Zoë «quoted» — 日本"},
		{"escape sequence", "evil\x1b[31mred", 256, `evil\x1b[31mred`},
		{"newline and carriage return", "boot time: x\r\nfilesystems: y", 256, `boot time: x\r\nfilesystems: y`},
		{"NUL", "a\x00b", 256, `a\x00b`},
		{"bell", "bell\a", 256, `bell\x07`},
		{"DEL", "J\x7fDoe", 256, `J\x7fDoe`},
		{"C1 control", "6.1\u0085", 256, `6.1\u0085`},
		{"invalid byte", "web\xff01", 256, "web\uFFFD01"},
		{"each invalid byte", "\xfe\xff", 256, "\uFFFD\uFFFD"},
		{"truncated sequence", "J\xc3", 256, "J\uFFFD"},
		{"Latin-1", "Ren\xe9", 256, "Ren\uFFFD"},
		{"backslash stays", `C:\x1b`, 256, `C:\x1b`},
		{"U+FFFD stays", "\uFFFD", 256, "\uFFFD"},
		{"exactly at the limit", long[:256], 256, long[:256]},
		{"over the limit", long, 256, long[:256-len(CutMarker)] + CutMarker},
		{"cut before a multi-byte character", strings.Repeat("a", 252) + "日本語", 256, strings.Repeat("a", 252) + CutMarker},
		{"cut before an escape", strings.Repeat("a", 250) + "\x1b\x1b", 256, strings.Repeat("a", 250) + CutMarker},
		{"escapes pushing over the limit", strings.Repeat("\x1b", 100), 256, strings.Repeat(`\x1b`, 63) + CutMarker},
		{"limit shorter than the marker", "日本", 2, ""},
		{"limit shorter than the marker, ASCII", "abc", 2, "ab"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := CleanText(tc.in, tc.max)
			if got != tc.want {
				t.Errorf("CleanText(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
			if len(got) > tc.max || text("f", got, tc.max) != nil {
				t.Errorf("CleanText(%q, %d) = %q does not pass validation", tc.in, tc.max, got)
			}
			if again := CleanText(got, tc.max); again != got {
				t.Errorf("CleanText is not idempotent: %q then %q", got, again)
			}
		})
	}
}

func TestCleanTextKeepsCleanText(t *testing.T) {
	s := "nginx: high performance web server"
	if n := testing.AllocsPerRun(100, func() { _ = CleanText(s, MaxFieldLen) }); n != 0 {
		t.Errorf("CleanText of clean text allocates %.0f times, want 0", n)
	}
}

// FuzzCleanText checks what every cleaned value must be: valid, within its limit, accepted
// by validation, unchanged when cleaned again, and the input itself when that was clean.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"", "a\tb", "evil\x1b[31m", "\xff\xfe", "J\xc3", "6.1\u0085", `\x1b`, "日本語", strings.Repeat("\x1b日", 100)} {
		f.Add(s, uint16(256))
		f.Add(s, uint16(5))
	}
	f.Fuzz(func(t *testing.T, s string, max uint16) {
		m := int(max % 5000)
		got := CleanText(s, m)
		if len(got) > m || !utf8.ValidString(got) {
			t.Fatalf("CleanText(%q, %d) = %q: over the limit or invalid", s, m, got)
		}
		if err := text("f", got, m); err != nil {
			t.Fatalf("CleanText(%q, %d) = %q: %v", s, m, got, err)
		}
		if again := CleanText(got, m); again != got {
			t.Fatalf("not idempotent: %q → %q → %q", s, got, again)
		}
		if text("f", s, m) == nil && got != s {
			t.Fatalf("clean text %q changed to %q", s, got)
		}
	})
}

// leaf is one string of a value, reached by reflection.
type leaf struct {
	path string // JSON names from the report down, without indices; map keys as {key}
	get  func() string
	set  func(string)
}

// stringLeaves lists every string in v. With fill, it first makes every nil pointer point
// to a zero value, every empty list hold one element and every empty map one entry, so that
// every string field of every type reachable from v is listed.
func stringLeaves(v reflect.Value, path string, fill bool) []leaf {
	var out []leaf
	join := func(p, name string) string {
		if p == "" {
			return name
		}
		return p + "." + name
	}
	switch v.Kind() {
	case reflect.String:
		out = append(out, leaf{path, v.String, v.SetString})
	case reflect.Pointer:
		if v.IsNil() {
			if !fill {
				return nil
			}
			v.Set(reflect.New(v.Type().Elem()))
		}
		return stringLeaves(v.Elem(), path, fill)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return nil
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				// An embedded struct's fields encode as the outer struct's own.
				out = append(out, stringLeaves(v.Field(i), path, fill)...)
				continue
			}
			out = append(out, stringLeaves(v.Field(i), join(path, name), fill)...)
		}
	case reflect.Slice:
		if v.Len() == 0 && fill {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		}
		for i := range v.Len() {
			out = append(out, stringLeaves(v.Index(i), path, fill)...)
		}
	case reflect.Map:
		if v.Type() != reflect.TypeFor[map[string]string]() {
			panic("stringLeaves: a map of another type: " + v.Type().String())
		}
		if v.Len() == 0 && fill {
			v.Set(reflect.ValueOf(map[string]string{"k": "v"}))
		}
		m := v.Interface().(map[string]string)
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		}) {
			key := k
			out = append(out,
				leaf{path + "{key}", func() string { return key }, func(s string) { m[s] = m[key]; delete(m, key); key = s }},
				leaf{path, func() string { return m[key] }, func(s string) { m[key] = s }})
		}
	}
	return out
}

// structural are the strings that are not cleaned, each with a change that makes a valid
// report of the kind named carry a control character there: Validate must refuse it even
// after CleanReport.
var structural = map[string]struct {
	kind   string
	mutate func(r *Report)
}{
	"host_id":                           {"full", func(r *Report) { r.HostID += "\x1b" }},
	"kind":                              {"full", func(r *Report) { r.Kind += "\x1b" }},
	"hash":                              {"full", func(r *Report) { r.Hash = r.Hash[:63] + "\n" }},
	"base_hash":                         {"delta", func(r *Report) { r.BaseHash = r.BaseHash[:63] + "\n" }},
	"state.host.id":                     {"full", func(r *Report) { r.State.Host.ID += "\x1b" }},
	"state.host.labels{key}":            {"full", func(r *Report) { r.State.Host.Labels["a\x1b"] = "v" }},
	"state.software.source":             {"full", func(r *Report) { r.State.Software[0].Source += "\x1b" }},
	"state.software.labels{key}":        {"full", func(r *Report) { r.State.Software[0].Labels = badLabel }},
	"state.services.labels{key}":        {"full", func(r *Report) { r.State.Services[0].Labels = badLabel }},
	"delta.software_upsert.labels{key}": {"delta", func(r *Report) { r.Delta.SoftwareUpsert[0].Labels = badLabel }},
	"delta.services_upsert.labels{key}": {"delta", func(r *Report) {
		r.Delta.ServicesUpsert = append(r.Delta.ServicesUpsert, model.Service{Manager: "docker", Name: "web", Labels: badLabel})
	}},
	"state.listeners.protocol":     {"full", func(r *Report) { r.State.Listeners[0].Protocol += "\x1b" }},
	"state.sources.name":           {"full", func(r *Report) { r.State.Sources[0].Name += "\x1b" }},
	"state.sources.state":          {"full", func(r *Report) { r.State.Sources[0].State += "\x1b" }},
	"delta.host.id":                {"delta", func(r *Report) { r.Delta.Host.ID += "\x1b" }},
	"delta.host.labels{key}":       {"delta", func(r *Report) { r.Delta.Host.Labels["a\x1b"] = "v" }},
	"delta.software_upsert.source": {"delta", func(r *Report) { r.Delta.SoftwareUpsert[0].Source += "\x1b" }},
	"delta.software_remove.source": {"delta", func(r *Report) {
		r.Delta.SoftwareRemove = []PackageKey{{Source: "deb\x1b", Name: "a", Version: "1"}}
	}},
	"delta.listeners.protocol": {"delta", func(r *Report) {
		r.Delta.ListenersChange, r.Delta.Listeners = true, []model.Listener{{Protocol: "tcp\x1b", Address: "::", Port: 1}}
	}},
	"delta.sources.name": {"delta", func(r *Report) {
		r.Delta.SourcesChange, r.Delta.Sources = true, []model.SourceStatus{{Name: "dpkg\x1b", State: "ok"}}
	}},
	"delta.sources.state": {"delta", func(r *Report) {
		r.Delta.SourcesChange, r.Delta.Sources = true, []model.SourceStatus{{Name: "dpkg", State: "ok\x1b"}}
	}},
	"events.type":   {"full", func(r *Report) { r.Events[0].Type += "\x1b" }},
	"events.source": {"full", func(r *Report) { r.Events[0].Source += "\x1b" }},
}

// badLabel is a set of labels whose key holds a control character.
var badLabel = map[string]string{"a\x1b": "v"}

// fieldName is the name Cleaned counts a leaf under.
func fieldName(path string) string {
	path = strings.TrimPrefix(strings.TrimPrefix(path, "state."), "delta.")
	for _, l := range []string{"software", "services"} {
		for _, op := range []string{"_upsert", "_remove"} {
			path = strings.Replace(path, l+op+".", l+".", 1)
		}
	}
	return path
}

// TestCleanReportEveryField makes sure no string of a report is forgotten: every string
// field of every type a report carries is either cleaned (and counted under its name in
// TextFields) or listed in structural, where Validate must refuse a control character.
// A field added to a model or protocol type fails here until it is one or the other.
func TestCleanReportEveryField(t *testing.T) {
	const dirty = "a\x1b\xff\n"
	const want = "a\\x1b\uFFFD\\n"
	fresh := func() (*Report, []leaf) {
		r := &Report{}
		return r, stringLeaves(reflect.ValueOf(r).Elem(), "", true)
	}
	_, leaves := fresh()
	seen := map[string]bool{}
	var uncleaned []string
	for i, l := range leaves {
		if seen[l.path] {
			t.Fatalf("%s listed twice", l.path)
		}
		seen[l.path] = true
		r, ls := fresh()
		ls[i].set(dirty)
		n := CleanReport(r)
		got := ls[i].get()
		if l.path != ls[i].path {
			t.Fatalf("leaves out of order: %s, %s", l.path, ls[i].path)
		}
		if got == dirty {
			uncleaned = append(uncleaned, l.path)
			if len(n) != 0 {
				t.Errorf("%s: not cleaned, yet CleanReport counted %v", l.path, n)
			}
			continue
		}
		if _, ok := structural[l.path]; ok {
			t.Errorf("%s is listed as structural but was cleaned", l.path)
		}
		name := fieldName(strings.TrimSuffix(l.path, "{key}"))
		if got != want {
			t.Errorf("%s: cleaned to %q, want %q", l.path, got, want)
		}
		if len(n) != 1 || n[name] != 1 {
			t.Errorf("%s: counted %v, want {%s: 1}", l.path, n, name)
		}
		if !slices.Contains(TextFields, name) {
			t.Errorf("%s: counted as %q, which TextFields does not list", l.path, name)
		}
	}
	slices.Sort(uncleaned)
	want2 := slices.Sorted(func(yield func(string) bool) {
		for k := range structural {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(uncleaned, want2) {
		t.Errorf("strings CleanReport leaves alone:\n%q\nwant exactly the structural ones:\n%q", uncleaned, want2)
	}
	for _, f := range TextFields {
		found := false
		for _, l := range leaves {
			if _, st := structural[l.path]; fieldName(l.path) == f && !st {
				found = true
			}
		}
		if !found {
			t.Errorf("TextFields lists %q, which no field of a report has", f)
		}
	}
	for path, s := range structural {
		t.Run(path, func(t *testing.T) {
			r := testReports(t)[s.kind]
			if err := Validate(r); err != nil {
				t.Fatalf("the report to start from is not valid: %v", err)
			}
			s.mutate(r)
			CleanReport(r)
			if err := Validate(r); err == nil {
				t.Errorf("Validate accepted a control character in %s", path)
			} else {
				check4xx(t, "Validate", err)
			}
		})
	}
}

// TestCleanReportDirtyHost is what a hostile host puts in a report: every such value is
// refused by Validate as it is, and cleaned to an exact, valid value by CleanReport.
func TestCleanReportDirtyHost(t *testing.T) {
	cases := []struct {
		name   string
		kind   string
		field  string // the name counted
		mutate func(r *Report)
		get    func(r *Report) string
		refuse string // what Validate says of the value before cleaning
		want   string
	}{
		{"process name with an escape sequence", "full", "listeners.process",
			func(r *Report) { r.State.Listeners[0].Process = "\x1b[31mevil" }, func(r *Report) string { return r.State.Listeners[0].Process },
			"state.listeners[0].process: control character U+001B", `\x1b[31mevil`},
		{"process name not UTF-8", "full", "listeners.process",
			func(r *Report) { r.State.Listeners[0].Process = "d\xe6mon" }, func(r *Report) string { return r.State.Listeners[0].Process },
			"state.listeners[0].process: not valid UTF-8", "d\uFFFDmon"},
		{"multi-line source error", "full", "sources.error",
			func(r *Report) { r.State.Sources[0].Error = "boot time: no /proc\nfilesystems: no /proc" },
			func(r *Report) string { return r.State.Sources[0].Error },
			"state.sources[0].error: control character U+000A", `boot time: no /proc\nfilesystems: no /proc`},
		{"agent_version", "full", "agent_version",
			func(r *Report) { r.AgentVersion = "0.1\x1b[31m" }, func(r *Report) string { return r.AgentVersion },
			"agent_version: control character U+001B", `0.1\x1b[31m`},
		{"hostname not UTF-8", "full", "host.hostname",
			func(r *Report) { r.State.Host.Hostname = "web\xff01" }, func(r *Report) string { return r.State.Host.Hostname },
			"state.host.hostname: not valid UTF-8", "web\uFFFD01"},
		{"os-release NUL", "full", "host.os.pretty_name",
			func(r *Report) { r.State.Host.OS.PrettyName = "Debian\x00" }, func(r *Report) string { return r.State.Host.OS.PrettyName },
			"state.host.os.pretty_name: control character U+0000", `Debian\x00`},
		{"kernel C1 control", "full", "host.kernel",
			func(r *Report) { r.State.Host.Kernel = "6.1\u0085" }, func(r *Report) string { return r.State.Host.Kernel },
			"state.host.kernel: control character U+0085", `6.1\u0085`},
		{"CPU model too long", "full", "host.cpu.model",
			func(r *Report) { r.State.Host.CPU.Model = strings.Repeat("x", 257) }, func(r *Report) string { return r.State.Host.CPU.Model },
			"state.host.cpu.model: longer than 256 bytes", strings.Repeat("x", 253) + CutMarker},
		{"mount point with a newline", "full", "host.filesystems.mountpoint",
			func(r *Report) { r.State.Host.Filesystems[1].Mountpoint = "/mnt/a\nb" }, func(r *Report) string { return r.State.Host.Filesystems[1].Mountpoint },
			"state.host.filesystems[1].mountpoint: control character U+000A", `/mnt/a\nb`},
		{"label value with a newline", "full", "host.labels",
			func(r *Report) { r.State.Host.Labels["env"] = "a\nb" }, func(r *Report) string { return r.State.Host.Labels["env"] },
			"state.host.labels.env: control character U+000A", `a\nb`},
		{"deb Description with ESC", "full", "software.summary",
			func(r *Report) { r.State.Software[0].Summary = "bell\a and \x1b]0;title\a" }, func(r *Report) string { return r.State.Software[0].Summary },
			"state.software[0].summary: control character U+0007", `bell\x07 and \x1b]0;title\x07`},
		{"Maintainer with DEL", "full", "software.maintainer",
			func(r *Report) { r.State.Software[0].Maintainer = "J\x7f <j@example.com>" }, func(r *Report) string { return r.State.Software[0].Maintainer },
			"state.software[0].maintainer: control character U+007F", `J\x7f <j@example.com>`},
		{"Maintainer cut in a character", "full", "software.maintainer",
			func(r *Report) { r.State.Software[0].Maintainer = "J\xc3" }, func(r *Report) string { return r.State.Software[0].Maintainer },
			"state.software[0].maintainer: not valid UTF-8", "J\uFFFD"},
		{"package summary too long", "full", "software.summary",
			func(r *Report) { r.State.Software[0].Summary = strings.Repeat("s", 5000) }, func(r *Report) string { return r.State.Software[0].Summary },
			"state.software[0].summary: longer than 4096 bytes", strings.Repeat("s", 4093) + CutMarker},
		{"unit Description with ESC", "full", "services.description",
			func(r *Report) { r.State.Services[0].Description = "\x1b[2JDaemon" }, func(r *Report) string { return r.State.Services[0].Description },
			"state.services[0].description: control character U+001B", `\x1b[2JDaemon`},
		{"unit path with a carriage return", "full", "services.path",
			func(r *Report) { r.State.Services[0].Path = "/lib/systemd\r" }, func(r *Report) string { return r.State.Services[0].Path },
			"state.services[0].path: control character U+000D", `/lib/systemd\r`},
		{"delta upsert summary", "delta", "software.summary",
			func(r *Report) { r.Delta.SoftwareUpsert[0].Summary = "x\x1b" }, func(r *Report) string { return r.Delta.SoftwareUpsert[0].Summary },
			"delta.software_upsert[0].summary: control character U+001B", `x\x1b`},
		{"event version DEL", "full", "events.previous_version",
			func(r *Report) { r.Events[0].PreviousVersion = "1.0\x7f" }, func(r *Report) string { return r.Events[0].PreviousVersion },
			"events[0].previous_version: control character U+007F", `1.0\x7f`},
		{"capacity mount point", "heartbeat", "capacity.filesystems.mountpoint",
			func(r *Report) { r.Capacity.Filesystems[0].Mountpoint = "/srv/\x1b" }, func(r *Report) string { return r.Capacity.Filesystems[0].Mountpoint },
			"capacity.filesystems[0].mountpoint: control character U+001B", `/srv/\x1b`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testReports(t)[tc.kind]
			if err := Validate(r); err != nil {
				t.Fatalf("the report to start from is not valid: %v", err)
			}
			if n := CleanReport(r); n != nil {
				t.Fatalf("CleanReport of a clean report changed %v", n)
			}
			tc.mutate(r)
			err := Validate(r)
			if err == nil || !strings.Contains(asError(t, err).Msg, tc.refuse) {
				t.Fatalf("Validate before cleaning: %v, want %q", err, tc.refuse)
			}
			n := CleanReport(r)
			if len(n) != 1 || n[tc.field] != 1 {
				t.Errorf("CleanReport counted %v, want {%s: 1}", n, tc.field)
			}
			if got := tc.get(r); got != tc.want {
				t.Errorf("cleaned to %q, want %q", got, tc.want)
			}
			if err := Validate(r); err != nil {
				t.Errorf("Validate after cleaning: %v", err)
			}
		})
	}
}

// TestFromInventoryHashesWhatTheCollectorHashes: a state with invalid UTF-8 and control
// characters hashes the same on the agent, which cleans it in FromInventory, and on the
// collector, which decodes, cleans again and normalizes what arrived.
func TestFromInventoryHashesWhatTheCollectorHashes(t *testing.T) {
	inv := fixture.Golden(t, "debian12")
	inv.Listeners = append(inv.Listeners,
		model.Listener{Protocol: "tcp", Address: "127.0.0.1", Port: 4444, PID: 7, Process: "d\xe6mon\x1b[0m"},
		model.Listener{Protocol: "tcp", Address: "127.0.0.1", Port: 4445, PID: 8, Process: "\xff\xfe"})
	inv.Software[0].Maintainer = "Ren\xe9 <r@example.com>"
	inv.Software[1].Summary = "\x1b]0;owned\a"
	inv.Sources[0].Error = "line one\nline two"
	before := mustJSON(t, inv)
	r := reportFor(t, inv)
	if mustJSON(t, inv) != before {
		t.Fatal("FromInventory changed its input")
	}
	if err := Validate(r); err != nil {
		t.Fatalf("Validate of FromInventory's state: %v", err)
	}
	body, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := Decode(bytes.NewReader(body), "gzip", DefaultLimits, &got); err != nil {
		t.Fatal(err)
	}
	if n := CleanReport(&got); n != nil {
		t.Errorf("the collector had to clean %v of what FromInventory cleaned", n)
	}
	st := *got.State
	Normalize(&st)
	if h := Hash(&st); h != r.Hash {
		t.Errorf("the collector hashes %s, the agent %s", h, r.Hash)
	}
	var procs []string
	for _, l := range st.Listeners {
		if l.Port == 4444 || l.Port == 4445 {
			procs = append(procs, l.Process)
		}
	}
	if want := []string{"d\uFFFDmon\\x1b[0m", "\uFFFD\uFFFD"}; !slices.Equal(procs, want) {
		t.Errorf("processes %q, want %q", procs, want)
	}
}

// FuzzReportText drives arbitrary bytes into one string of a report at a time, along the
// whole path: the agent cleans, normalizes, hashes and encodes; the collector decodes, cleans
// and validates. Nothing may panic; a cleaned report validates unless the string was
// structure; the collector finds nothing left to clean; the hash holds across the wire.
func FuzzReportText(f *testing.F) {
	for _, s := range []string{"", "\x1b[31m", "\xff\xfe", "a\nb", strings.Repeat("日", 2000), "\u0085", "J\xc3"} {
		for _, i := range []uint16{0, 7, 40, 200, 1000} {
			f.Add(s, i, false)
			f.Add(s, i, true)
		}
	}
	reports := testReports(f)
	base := reports["full"].State
	f.Fuzz(func(t *testing.T, s string, which uint16, delta bool) {
		r := cloneJSON(t, reports["full"])
		if delta {
			r = cloneJSON(t, reports["delta"])
		}
		leaves := stringLeaves(reflect.ValueOf(r).Elem(), "", false)
		l := leaves[int(which)%len(leaves)]
		l.set(s)
		_, isStructural := structural[l.path]

		CleanReport(r)
		if r.State != nil {
			Normalize(r.State)
			r.Hash = Hash(r.State)
		} else {
			st := Apply(base, r.Delta)
			r.Hash = Hash(&st)
		}
		if err := Validate(r); err != nil {
			check4xx(t, "Validate", err)
			if !isStructural && s != "" {
				t.Fatalf("a cleaned report is refused for %q in %s: %v", s, l.path, err)
			}
			return
		}
		body, err := Marshal(r)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		var got Report
		if err := Decode(bytes.NewReader(body), "gzip", DefaultLimits, &got); err != nil {
			t.Fatalf("Decode of what the agent sent: %v", err)
		}
		if n := CleanReport(&got); n != nil {
			t.Fatalf("the collector had to clean %v again", n)
		}
		if err := Validate(&got); err != nil {
			t.Fatalf("Validate on the collector: %v", err)
		}
		if mustJSON(t, &got) != mustJSON(t, r) {
			t.Fatalf("the report changed on the wire")
		}
		if got.State != nil {
			st := *got.State
			Normalize(&st)
			if h := Hash(&st); h != r.Hash {
				t.Fatalf("hash %s on the collector, %s on the agent", h, r.Hash)
			}
		} else {
			st := Apply(base, got.Delta)
			if h := Hash(&st); h != r.Hash {
				t.Fatalf("delta leads to %s on the collector, %s on the agent", h, r.Hash)
			}
		}
	})
}

func TestCleanEnroll(t *testing.T) {
	r := EnrollRequest{EnrollSecret: "s3cret", HostID: "5c0f5d2e8f6a4b1c9e3d7a2b4c6d8e0f", Hostname: "web\x00\xfe", AgentVersion: strings.Repeat("1", 300)}
	if err := ValidateEnroll(&r); err == nil {
		t.Fatal("ValidateEnroll accepted a NUL in the hostname")
	}
	n := CleanEnroll(&r)
	if want := (Cleaned{"host.hostname": 1, "agent_version": 1}); !reflect.DeepEqual(n, want) {
		t.Errorf("CleanEnroll counted %v, want %v", n, want)
	}
	if r.Hostname != "web\\x00\uFFFD" || r.AgentVersion != strings.Repeat("1", 253)+CutMarker {
		t.Errorf("cleaned to %q, %q", r.Hostname, r.AgentVersion)
	}
	if err := ValidateEnroll(&r); err != nil {
		t.Errorf("ValidateEnroll after cleaning: %v", err)
	}
}

// Package mddoc reads the reference tables of the Markdown documentation under docs/, for
// the tests that keep the documentation in sync with the code: the flags and configuration
// keys of the commands, the metrics, the alerts' runbook sections.
package mddoc

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Dir returns the docs/ directory of the repository.
func Dir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("mddoc: cannot locate the source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "docs")
}

// Section is the text under one heading, up to the next heading of the same or a higher
// level.
type Section struct {
	Level int
	Title string
	Lines []string
	// Line is the 1-based line of the heading.
	Line int
}

// Doc is a Markdown file split in sections.
type Doc struct {
	Path     string
	Sections []*Section
}

// Read reads a Markdown file of docs/ by name ("configuration.md"); its Path is
// "docs/configuration.md".
func Read(t testing.TB, name string) *Doc {
	t.Helper()
	path := filepath.Join(Dir(t), name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("mddoc: %v", err)
	}
	return Parse(filepath.Join("docs", name), string(b))
}

// Parse splits Markdown text in sections; fenced code blocks are not searched for headings.
func Parse(path, text string) *Doc {
	d := &Doc{Path: path}
	var open []*Section
	fence := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if f := fenceOf(line); f != "" && (fence == "" || strings.HasPrefix(strings.TrimSpace(line), fence)) {
			if fence == "" {
				fence = f
			} else {
				fence = ""
			}
		} else if fence == "" {
			if level, title, ok := Heading(line); ok {
				s := &Section{Level: level, Title: title, Line: n}
				d.Sections = append(d.Sections, s)
				for len(open) > 0 && open[len(open)-1].Level >= level {
					open = open[:len(open)-1]
				}
				for _, o := range open {
					o.Lines = append(o.Lines, line)
				}
				open = append(open, s)
				continue
			}
		}
		for _, o := range open {
			o.Lines = append(o.Lines, line)
		}
	}
	return d
}

func fenceOf(line string) string {
	s := strings.TrimSpace(line)
	for _, f := range []string{"```", "~~~"} {
		if strings.HasPrefix(s, f) {
			return f
		}
	}
	return ""
}

// Heading parses an ATX heading line ("## Title").
func Heading(line string) (level int, title string, ok bool) {
	for level < len(line) && line[level] == '#' {
		level++
	}
	if level == 0 || level > 6 || level >= len(line) || line[level] != ' ' {
		return 0, "", false
	}
	return level, strings.TrimSpace(strings.TrimRight(strings.TrimSpace(line[level:]), "#")), true
}

// Find returns the first section whose title contains s, or nil.
func (d *Doc) Find(s string) *Section {
	for _, sec := range d.Sections {
		if strings.Contains(sec.Title, s) {
			return sec
		}
	}
	return nil
}

// Rows returns the body rows of the Markdown tables in the section (header and delimiter
// rows left out), each as its trimmed cells.
func (s *Section) Rows() [][]string {
	var rows [][]string
	inTable := false
	for _, line := range s.Lines {
		l := strings.TrimSpace(line)
		if !strings.HasPrefix(l, "|") {
			inTable = false
			continue
		}
		cells := splitRow(l)
		if !inTable {
			// The header row; the delimiter row follows.
			inTable = true
			continue
		}
		if isDelimiter(cells) {
			continue
		}
		rows = append(rows, cells)
	}
	return rows
}

// splitRow splits a table row on the pipes that are not escaped or inside code spans.
func splitRow(l string) []string {
	l = strings.TrimSuffix(strings.TrimPrefix(l, "|"), "|")
	var cells []string
	var b strings.Builder
	code := false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c == '\\' && i+1 < len(l) && l[i+1] == '|':
			b.WriteByte('|')
			i++
		case c == '`':
			code = !code
			b.WriteByte(c)
		case c == '|' && !code:
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(cells, strings.TrimSpace(b.String()))
}

func isDelimiter(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, ":- ") != "" {
			return false
		}
	}
	return true
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// Code returns the contents of the code spans of a cell: "`--label` (repeatable)" gives
// ["--label"].
func Code(cell string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// Flag is a flag of a command as its -h output shows it.
type Flag struct {
	Name string
	// Default is the default value as -h shows it (unquoted), "" for a zero value.
	Default string
}

var (
	usageFlag    = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9_.-]*)`)
	usageDefault = regexp.MustCompile(`\(default (.*)\)$`)
)

// UsageFlags parses the flags of the output of a Go flag.FlagSet's PrintDefaults.
func UsageFlags(usage string) []Flag {
	var flags []Flag
	for _, line := range strings.Split(usage, "\n") {
		if m := usageFlag.FindStringSubmatch(line); m != nil {
			flags = append(flags, Flag{Name: m[1]})
			// A short usage text may follow on the flag's line.
		} else if !strings.HasPrefix(line, "    \t") || len(flags) == 0 {
			continue
		}
		if m := usageDefault.FindStringSubmatch(line); m != nil {
			def := m[1]
			if u, err := strconv.Unquote(def); err == nil {
				def = u
			}
			flags[len(flags)-1].Default = def
		}
	}
	return flags
}

// FlagRow is a documented flag: the row's cells (flag, YAML key, default, meaning).
type FlagRow struct {
	Key, Default string
}

// FlagRows reads the flags a section's tables document: the first cell names the flag
// (`--name`, or `-f`), the second the YAML key or —, the third the default.
func FlagRows(t testing.TB, sec *Section) map[string]FlagRow {
	t.Helper()
	rows := map[string]FlagRow{}
	for _, cells := range sec.Rows() {
		if len(cells) < 3 {
			continue
		}
		for _, c := range Code(cells[0]) {
			if name, ok := strings.CutPrefix(c, "-"); ok {
				r := FlagRow{Default: cells[1]}
				if len(cells) >= 4 {
					r.Key, r.Default = cells[1], cells[2]
				}
				rows[strings.TrimPrefix(name, "-")] = r
			}
		}
	}
	return rows
}

// CheckFlags compares the real flags of a command with those its section documents, and
// their defaults.
func CheckFlags(t testing.TB, path, title string, real map[string]Flag, rows map[string]FlagRow) {
	t.Helper()
	for name, f := range real {
		r, ok := rows[name]
		if !ok {
			t.Errorf("%s, section %q: flag --%s is not documented", path, title, name)
			continue
		}
		if f.Default != "" && !sameDefault(r.Default, f.Default) {
			t.Errorf("%s, section %q: flag --%s defaults to %q, the table says %q", path, title, name, f.Default, r.Default)
		}
	}
	for name := range rows {
		if _, ok := real[name]; !ok {
			t.Errorf("%s, section %q: documents --%s, which the command does not have", path, title, name)
		}
	}
}

// CheckKeys compares the yaml keys of a configuration struct with the second column of the
// section's tables; a row with a flag and a key must pair them by name (--a-b, a_b; a
// repeatable --label, labels).
func CheckKeys(t testing.TB, path string, sec *Section, typ reflect.Type) {
	t.Helper()
	keys := map[string]bool{}
	for i := range typ.NumField() {
		if k := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]; k != "" && k != "-" {
			keys[k] = true
		}
	}
	documented := map[string]bool{}
	for _, cells := range sec.Rows() {
		if len(cells) < 4 {
			continue
		}
		for _, k := range Code(cells[1]) {
			documented[k] = true
			if !keys[k] {
				t.Errorf("%s, section %q: documents the key %s, which the configuration file does not have", path, sec.Title, k)
			}
			for _, f := range Code(cells[0]) {
				// A repeatable flag (--label) fills a list or mapping (labels).
				if snake := strings.ReplaceAll(strings.TrimPrefix(f, "--"), "-", "_"); strings.HasPrefix(f, "--") && snake != k && snake+"s" != k {
					t.Errorf("%s, section %q: flag %s is paired with the key %s", path, sec.Title, f, k)
				}
			}
		}
	}
	for k := range keys {
		if !documented[k] {
			t.Errorf("%s, section %q: the configuration key %s is not documented", path, sec.Title, k)
		}
	}
}

// sameDefault reports whether a documented default (a table cell) states the real default
// of a flag: one of its code spans, or its text, equals it, durations compared by value.
func sameDefault(cell, def string) bool {
	cands := append(Code(cell), strings.ReplaceAll(cell, "`", ""))
	for _, c := range cands {
		if c == def {
			return true
		}
		a, errA := time.ParseDuration(c)
		b, errB := time.ParseDuration(def)
		if errA == nil && errB == nil && a == b {
			return true
		}
	}
	return false
}

// CheckMetrics compares the metric families a component's gatherer exposes with the table of its
// section: one row per metric, | `name` | type | labels | meaning | series |, labels as code
// spans or —; a row `prefix_*` stands for the families of a library (Go runtime, etcd) and
// must match at least one. Every family must be documented, by name or by prefix, and every
// documented metric must exist with the documented type and labels.
func CheckMetrics(t testing.TB, path string, sec *Section, g prometheus.Gatherer) {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gathering the metrics: %v", err)
	}
	type row struct {
		typ    string
		labels []string
	}
	rows := map[string]row{}
	var prefixes []string
	for _, cells := range sec.Rows() {
		names := Code(cells[0])
		if len(names) == 0 || len(cells) < 3 {
			continue
		}
		name := names[0]
		if p, ok := strings.CutSuffix(name, "*"); ok {
			prefixes = append(prefixes, p)
			continue
		}
		labels := Code(cells[2])
		slices.Sort(labels)
		rows[name] = row{typ: strings.ToLower(strings.TrimSpace(cells[1])), labels: labels}
	}
	if len(rows) == 0 {
		t.Fatalf("%s, section %q: no metrics table", path, sec.Title)
	}
	got := map[string]bool{}
	usedPrefix := map[string]bool{}
	for _, mf := range families {
		name := mf.GetName()
		got[name] = true
		r, ok := rows[name]
		if !ok {
			i := slices.IndexFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) })
			if i < 0 {
				t.Errorf("%s, section %q: metric %s (%s) is not documented", path, sec.Title, name, strings.ToLower(mf.GetType().String()))
			}
			if i >= 0 {
				usedPrefix[prefixes[i]] = true
			}
			continue
		}
		if typ := strings.ToLower(mf.GetType().String()); typ != r.typ {
			t.Errorf("%s, section %q: metric %s is a %s, the table says %q", path, sec.Title, name, typ, r.typ)
		}
		var labels []string
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		slices.Sort(labels)
		if !slices.Equal(labels, r.labels) {
			t.Errorf("%s, section %q: metric %s has the labels %q, the table says %q", path, sec.Title, name, labels, r.labels)
		}
	}
	for name := range rows {
		if !got[name] {
			t.Errorf("%s, section %q: documents %s, which is not exposed", path, sec.Title, name)
		}
	}
	for _, p := range prefixes {
		if !usedPrefix[p] {
			t.Errorf("%s, section %q: documents %s*, but no exposed metric starts so", path, sec.Title, p)
		}
	}
}

// Blocks returns the contents of the section's fenced code blocks of a language ("yaml").
func (s *Section) Blocks(lang string) []string {
	var blocks []string
	var cur []string
	in := false
	for _, line := range s.Lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```"+lang:
			in, cur = true, nil
		case in && trimmed == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

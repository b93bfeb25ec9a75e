package docs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/testutil/mddoc"
)

// runbookBase is where runbook_url annotations point: the runbook on the main branch.
const runbookBase = "https://github.com/onus-project/onus/blob/main/docs/runbook.md#"

// Anchor returns the anchor GitHub gives a heading: the text without Markdown code marks,
// lower case, every character that is not a letter, digit, space, '-' or '_' dropped,
// spaces turned into '-'.
func Anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// anchors returns the anchors of a Markdown document's headings, the repeated ones numbered
// as GitHub does (name, name-1, name-2).
func anchors(d *mddoc.Doc) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, s := range d.Sections {
		a := Anchor(s.Title)
		if n := seen[a]; n > 0 {
			seen[a] = n + 1
			a = fmt.Sprintf("%s-%d", a, n)
		} else {
			seen[a] = 1
		}
		out[a] = true
	}
	return out
}

func TestAnchor(t *testing.T) {
	for title, want := range map[string]string{
		"OnusHostsStale":                "onushostsstale",
		"`onus-collector serve`":        "onus-collector-serve",
		"Rules: selectors per kind":     "rules-selectors-per-kind",
		"Precedence and specificity":    "precedence-and-specificity",
		"From packages (.deb and .rpm)": "from-packages-deb-and-rpm",
		"snake_case keys":               "snake_case-keys",
	} {
		if got := Anchor(title); got != want {
			t.Errorf("Anchor(%q) = %q, want %q", title, got, want)
		}
	}
}

// alertRule is an alerting rule of onus-rules.yml.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Annotations map[string]string `yaml:"annotations"`
}

func readAlerts(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "deploy", "prometheus", "onus-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatalf("onus-rules.yml: %v", err)
	}
	var alerts []alertRule
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, r)
			}
		}
	}
	if len(alerts) == 0 {
		t.Fatal("onus-rules.yml has no alerts")
	}
	return alerts
}

// TestRunbook checks that every alert of onus-rules.yml has a section of runbook.md named
// after it, that its runbook_url annotation points to that section, that the section says
// what the runbook promises, and that runbook.md has no section of an alert that is gone.
func TestRunbook(t *testing.T) {
	doc := mddoc.Read(t, "runbook.md")
	sections := map[string]*mddoc.Section{}
	for _, s := range doc.Sections {
		if s.Level == 2 && strings.HasPrefix(s.Title, "Onus") {
			sections[s.Title] = s
		}
	}
	names := map[string]bool{}
	for _, a := range readAlerts(t) {
		names[a.Alert] = true
		want := runbookBase + Anchor(a.Alert)
		if got := a.Annotations["runbook_url"]; got != want {
			t.Errorf("onus-rules.yml: alert %s has runbook_url %q, want %q", a.Alert, got, want)
		}
		s := sections[a.Alert]
		if s == nil {
			t.Errorf("runbook.md: no section \"## %s\"", a.Alert)
			continue
		}
		text := strings.Join(s.Lines, "\n")
		for _, part := range []string{"What it means", "Who acts", "Investigate", "Resolve", "Silence"} {
			if !strings.Contains(text, part) {
				t.Errorf("runbook.md, section %s (line %d): no %q part", a.Alert, s.Line, part)
			}
		}
	}
	for title, s := range sections {
		if !names[title] {
			t.Errorf("runbook.md, line %d: section %q names no alert of onus-rules.yml", s.Line, title)
		}
	}
}

var (
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	refLink    = regexp.MustCompile(`^\s*\[[^\]]+\]:\s+(\S+)`)
	codeSpan   = regexp.MustCompile("`[^`]*`")
)

// links returns the link targets of a Markdown text outside code blocks and code spans,
// with their lines.
func links(text string) (targets []string, lines []int) {
	fence := ""
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			if fence == "" {
				fence = trimmed[:3]
			} else if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if fence != "" {
			continue
		}
		line = codeSpan.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			targets, lines = append(targets, m[1]), append(lines, i+1)
		}
		if m := refLink.FindStringSubmatch(line); m != nil {
			targets, lines = append(targets, m[1]), append(lines, i+1)
		}
	}
	return targets, lines
}

// TestLinks checks every relative link of docs/*.md and README.md: the file or directory
// exists in the repository, and the anchor, if any, is a heading of the Markdown file.
func TestLinks(t *testing.T) {
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join("..", "README.md"))
	if len(files) < 2 {
		t.Fatalf("no Markdown files in docs/: %v", files)
	}
	docs := map[string]*mddoc.Doc{}
	read := func(path string) (*mddoc.Doc, error) {
		if d, ok := docs[path]; ok {
			return d, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		d := mddoc.Parse(path, string(b))
		docs[path] = d
		return d, nil
	}
	checked := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.ToSlash(filepath.Join("docs", file)) // as seen from the repository root
		targets, lines := links(string(b))
		for i, target := range targets {
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
			}
			fi, err := os.Stat(dest)
			if err != nil {
				t.Errorf("%s:%d: link %q: %v", name, lines[i], target, err)
				continue
			}
			if anchor == "" {
				continue
			}
			if fi.IsDir() || !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s:%d: link %q: an anchor into something that is not a Markdown file", name, lines[i], target)
				continue
			}
			d, err := read(dest)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors(d)[anchor] {
				t.Errorf("%s:%d: link %q: %s has no heading with the anchor #%s", name, lines[i], target, filepath.ToSlash(filepath.Join("docs", dest)), anchor)
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no relative links to check")
	}
}

// yamlBlocks returns the contents of the ```yaml code blocks of a Markdown text with the
// line each starts on.
func yamlBlocks(text string) (blocks []string, starts []int) {
	var cur []string
	in := false
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```yaml":
			in, cur = true, nil
			starts = append(starts, i+2)
		case in && trimmed == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	return blocks, starts
}

// TestOwnersExamples loads every ```yaml block of owners.md with the real loader of
// owners.yaml, which refuses unknown fields: each must load without error.
func TestOwnersExamples(t *testing.T) {
	b, err := os.ReadFile("owners.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, starts := yamlBlocks(string(b))
	if len(blocks) < 5 {
		t.Fatalf("owners.md has %d yaml examples; expected the reference's examples", len(blocks))
	}
	for i, block := range blocks {
		if _, err := owners.Load("docs/owners.md", []byte(block)); err != nil {
			var lines []string
			for _, e := range unjoin(err) {
				var oe *owners.Error
				if errors.As(e, &oe) && oe.Line > 0 {
					oe.Line += starts[i] - 1
				}
				lines = append(lines, e.Error())
			}
			t.Errorf("the example at docs/owners.md line %d does not load:\n%s", starts[i], strings.Join(lines, "\n"))
		}
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// TestOwnersFields checks the field tables of owners.md against the fields of the registry:
// every field documented, no field documented that the loader does not know.
func TestOwnersFields(t *testing.T) {
	doc := mddoc.Read(t, "owners.md")
	for title, typ := range map[string]reflect.Type{
		"Owner fields":      reflect.TypeOf(owners.Owner{}),
		"Contact fields":    reflect.TypeOf(owners.Contact{}),
		"Rule fields":       reflect.TypeOf(owners.Rule{}),
		"Selector fields":   reflect.TypeOf(owners.Selector{}),
		"Assignment fields": reflect.TypeOf(owners.Assignment{}),
	} {
		sec := doc.Find(title)
		if sec == nil {
			t.Errorf("owners.md: no section %q", title)
			continue
		}
		var real []string
		for i := range typ.NumField() {
			if k := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]; k != "" && k != "-" {
				real = append(real, k)
			}
		}
		var documented []string
		for _, cells := range sec.Rows() {
			if c := mddoc.Code(cells[0]); len(c) > 0 {
				documented = append(documented, c[0])
			}
		}
		for _, f := range real {
			if !slices.Contains(documented, f) {
				t.Errorf("owners.md, section %q: field %s is not documented", title, f)
			}
		}
		for _, f := range documented {
			if !slices.Contains(real, f) {
				t.Errorf("owners.md, section %q: documents %s, which is not a field", title, f)
			}
		}
	}
}

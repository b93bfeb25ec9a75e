package kubernetes

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/onus-project/onus/internal/testutil/golden"
)

// TestGeneratedUpToDate fails while a generated manifest differs from what its source
// generates now (say, after an annotation was added to onus-rules.yml). With -update (make
// golden) it rewrites them, as the generator does.
func TestGeneratedUpToDate(t *testing.T) {
	files, err := Generate("..")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("nothing generated")
	}
	for name, want := range files {
		p := filepath.Join("..", name)
		if golden.Updating() {
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("deploy/%s: %v; generate it from the repository root with:\n\t%s", name, err, RegenerateCommand)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("deploy/%s is not what its source generates now; regenerate it from the repository root with:\n\t%s\nfirst difference:\n%s",
				name, RegenerateCommand, firstDiff(string(got), string(want)))
		}
	}
}

// firstDiff shows the first line where the committed text and the generated one differ.
func firstDiff(got, want string) string {
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return "  line " + strconv.Itoa(i+1) + " committed: " + g + "\n  line " + strconv.Itoa(i+1) + " generated: " + w
		}
	}
	return "(none)"
}

func TestGenerateRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
	}{
		{"no groups", "rule_files: []\n"},
		{"a key besides groups", "groups: []\nextra: 1\n"},
		{"not YAML", "groups: [\n"},
	} {
		if _, err := PrometheusRule([]byte(c.in)); err == nil {
			t.Errorf("PrometheusRule(%s): no error", c.name)
		}
	}
	for _, c := range []struct {
		name string
		in   string
	}{
		{"no final newline", "owners: []"},
		{"blank lines at the end", "owners: []\n\n"},
		{"indented first line", "  owners: []\n"},
	} {
		if _, err := OwnersConfigMapOf([]byte(c.in)); err == nil {
			t.Errorf("OwnersConfigMapOf(%s): no error", c.name)
		}
	}
	// A rule file with a comment before groups and block scalars keeps its content.
	in := "# about the file\ngroups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          up\n\n            == 0\n"
	out, err := PrometheusRule([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("about the file")) {
		t.Error("the file's own header comment was copied into the object")
	}
	var pr monitoringv1.PrometheusRule
	if err := strictYAML(out, &pr); err != nil {
		t.Fatal(err)
	}
	if got := pr.Spec.Groups[0].Rules[0].Expr.String(); got != "up\n\n  == 0\n" {
		t.Errorf("expr %q, want the block scalar's content unchanged", got)
	}
}

// ruleFile is a Prometheus rule file as the operator's types read it.
type ruleFile struct {
	Groups []monitoringv1.RuleGroup `json:"groups"`
}

func TestPrometheusRule(t *testing.T) {
	b := manifests(t)
	pr := get[*monitoringv1.PrometheusRule](t, b, "onus")
	data, err := os.ReadFile(filepath.Join("..", RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	// Every field of the rule file is one the operator knows (strict), and the object holds
	// the same groups.
	var file ruleFile
	if err := strictYAML(data, &file); err != nil {
		t.Fatalf("deploy/%s does not decode strictly into the operator's rule groups: %v", RulesFile, err)
	}
	if len(file.Groups) == 0 {
		t.Fatalf("deploy/%s has no rule groups", RulesFile)
	}
	if !reflect.DeepEqual(pr.Spec.Groups, file.Groups) {
		t.Fatalf("PrometheusRule onus holds other groups than deploy/%s; regenerate with: %s", RulesFile, RegenerateCommand)
	}
	alerts := 0
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts++
				if r.Labels["severity"] == "" || r.Annotations["description"] == "" {
					t.Errorf("alert %s: want a severity label and a description", r.Alert)
				}
			}
		}
	}
	if alerts == 0 {
		t.Error("the PrometheusRule holds no alert")
	}

	// The groups as the operator hands them to Prometheus, checked and unit-tested by
	// promtool with the rule tests of deploy/prometheus.
	promtool, err := lookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): install Debian's prometheus package (apt-get install prometheus; .ci/run does)", err)
	}
	out, err := sigsyaml.Marshal(ruleFile{Groups: pr.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The unit tests name their rule file onus-rules.yml, relative to themselves.
	tests, err := os.ReadFile(filepath.Join("..", "prometheus", "onus-rules.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(tests, []byte("onus-rules.yml")) {
		t.Fatal("onus-rules.test.yml no longer names onus-rules.yml; adapt this test")
	}
	for name, data := range map[string][]byte{"onus-rules.yml": out, "onus-rules.test.yml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runCmd(promtool, "check", "rules", filepath.Join(dir, "onus-rules.yml")); err != nil {
		t.Fatalf("the PrometheusRule's groups: %v", err)
	}
	if _, err := runCmd(promtool, "test", "rules", filepath.Join(dir, "onus-rules.test.yml")); err != nil {
		t.Fatalf("the rule unit tests against the PrometheusRule's groups: %v", err)
	}
}

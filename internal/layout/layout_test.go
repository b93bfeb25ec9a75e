package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// listed is what `go list -test -json` says of one package or test variant.
type listed struct {
	ImportPath string
	Imports    []string
	Error      *struct{ Err string }
}

// upward returns, for each package under module/internal (test variants included), the
// imports that leave internal/ for another part of the module, as "importer imports
// imported". Checking the direct imports of every internal package is enough: if each of
// them imports only internal/, the standard library and other modules, so does everything
// they reach.
func upward(module string, pkgs []listed) []string {
	internal := module + "/internal"
	under := func(path, root string) bool { return path == root || strings.HasPrefix(path, root+"/") }
	var bad []string
	for _, p := range pkgs {
		// Test variants are listed as "pkg [pkg.test]", and so are imports that were
		// recompiled for a test; the path is what comes before the bracket.
		importer, _, _ := strings.Cut(p.ImportPath, " ")
		if !under(importer, internal) {
			continue
		}
		for _, imp := range p.Imports {
			path, _, _ := strings.Cut(imp, " ")
			if under(path, module) && !under(path, internal) {
				bad = append(bad, p.ImportPath+" imports "+path)
			}
		}
	}
	slices.Sort(bad)
	return slices.Compact(bad)
}

// goList runs the go command in the module's root directory.
func goList(t *testing.T, args ...string) []byte {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	cmd := exec.Command(goCmd, append([]string{"list"}, args...)...)
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestInternalImportsNothingAbove lists every package under internal/ with its tests and
// fails, naming the import, if any of them imports agent/, collector/, loadgen/, e2e/,
// chaos/ or any other part of the module outside internal/.
func TestInternalImportsNothingAbove(t *testing.T) {
	module := strings.TrimSpace(string(goList(t, "-m", "-f", "{{.Path}}")))
	dec := json.NewDecoder(bytes.NewReader(goList(t, "-test", "-e", "-json=ImportPath,Imports,Error", module+"/internal/...")))
	var pkgs []listed
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	// The listing must have reached the packages it is meant to guard, test variants
	// included, or the check below would pass on nothing.
	for _, want := range []string{module + "/internal/protocol", module + "/internal/store_test [" + module + "/internal/store.test]"} {
		if !slices.ContainsFunc(pkgs, func(p listed) bool { return p.ImportPath == want }) {
			t.Fatalf("go list did not list %s (%d packages listed)", want, len(pkgs))
		}
	}
	for _, b := range upward(module, pkgs) {
		t.Errorf("%s: internal/ must not import the packages built on it; move the code that needs it out of internal/", b)
	}
}

// TestUpward checks the rule itself on listings made up for the purpose: what leaves
// internal/ for the module is named with its importer, and nothing else is.
func TestUpward(t *testing.T) {
	const m = "example.org/onus"
	cases := []struct {
		name string
		pkgs []listed
		want []string
	}{
		{"internal, stdlib and other modules", []listed{
			{ImportPath: m + "/internal/store", Imports: []string{"context", m + "/internal/model", "go.etcd.io/etcd/client/v3"}},
		}, nil},
		{"a test importing the collector", []listed{
			{ImportPath: m + "/internal/promtest [" + m + "/internal/promtest.test]", Imports: []string{m + "/collector/app", m + "/internal/model"}},
		}, []string{m + "/internal/promtest [" + m + "/internal/promtest.test] imports " + m + "/collector/app"}},
		{"an external test importing a recompiled loadgen", []listed{
			{ImportPath: m + "/internal/store_test [" + m + "/internal/store.test]", Imports: []string{m + "/loadgen [" + m + "/internal/store.test]"}},
		}, []string{m + "/internal/store_test [" + m + "/internal/store.test] imports " + m + "/loadgen"}},
		{"the module root and chaos", []listed{
			{ImportPath: m + "/internal/testutil/bg", Imports: []string{m, m + "/chaos", m + "/internalx/y"}},
		}, []string{m + "/internal/testutil/bg imports " + m, m + "/internal/testutil/bg imports " + m + "/chaos", m + "/internal/testutil/bg imports " + m + "/internalx/y"}},
		{"packages outside internal/ may import anything", []listed{
			{ImportPath: m + "/e2e [" + m + "/e2e.test]", Imports: []string{m + "/agent/reporter", m + "/collector/app"}},
			{ImportPath: m + "/internalx", Imports: []string{m + "/collector/app"}},
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := upward(m, c.pkgs); !slices.Equal(got, c.want) {
				t.Errorf("upward = %q, want %q", got, c.want)
			}
		})
	}
}

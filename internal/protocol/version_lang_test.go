package protocol

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// semverChain is SemVer 2.0.0 §11's example, lowest first.
var semverChain = []string{
	"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
	"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0",
}

// semverCases follow SemVer 2.0.0 §11 and §10 (build metadata), then what cargo and npm
// refuse.
var semverCases = []versionCase{
	{"major", "1.0.0", "2.0.0", -1},
	{"minor", "2.0.0", "2.1.0", -1},
	{"patch", "2.1.0", "2.1.1", -1},
	{"numbers as numbers", "1.9.0", "1.10.0", -1},
	{"long numbers", "1.0.99999999999999999999", "1.0.100000000000000000000", -1},
	{"prerelease before release", "1.0.0-alpha", "1.0.0", -1},
	{"prerelease after the previous release", "1.0.1-alpha", "1.0.0", 1},
	{"numeric identifiers as numbers", "1.0.0-beta.2", "1.0.0-beta.11", -1},
	{"numeric before alphanumeric", "1.0.0-1", "1.0.0-a", -1},
	{"numeric identifier before alphanumeric one", "1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
	{"alphanumeric byte by byte", "1.0.0-Beta", "1.0.0-alpha", -1},
	{"hyphen in an identifier", "1.0.0-a-b", "1.0.0-a", 1},
	{"digits and letters are alphanumeric", "1.0.0-1a", "1.0.0-2", 1},
	{"fewer identifiers first", "1.0.0-alpha", "1.0.0-alpha.0", -1},
	{"build metadata ignored", "1.0.0+build.1", "1.0.0+build.2", 0},
	{"build metadata of a prerelease ignored", "1.0.0-rc.1+sha.5114f85", "1.0.0-rc.1", 0},
	{"build metadata with hyphens", "1.0.0+20130313144700-x", "1.0.0", 0},
	{"leading v", "v1.2.3", "1.2.3", 0},
	{"leading v ordered", "v1.2.3", "1.10.0", -1},
	{"equal", "1.2.3", "1.2.3", 0},
	// Not semantic versions: before every one, among themselves by CompareSegments.
	{"two numbers", "1.0", "0.0.1", -1},
	{"four numbers", "1.0.0.0", "0.0.0", -1},
	{"leading zero", "01.0.0", "0.0.0-0", -1},
	{"leading zero in a numeric prerelease", "1.0.0-01", "1.0.0-alpha", -1},
	{"empty prerelease", "1.0.0-", "0.1.0", -1},
	{"empty identifier", "1.0.0-a..b", "0.1.0", -1},
	{"empty build", "1.0.0+", "0.1.0", -1},
	{"invalid byte", "1.0.0-a_b", "0.1.0", -1},
	{"empty", "", "0.0.0", -1},
	{"invalid ones by segments", "1.0", "1.1", -1},
	{"invalid ones equal", "1.01", "1.1", 0},
	{"two v", "vv1.0.0", "0.0.0", -1},
}

var semverVersions = []string{
	"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
	"1.0.0-rc.1", "1.0.0", "1.0.0+build.1", "v1.0.0", "14.1.0", "13.0.0", "2.3.0-beta.1", "0.4.2",
	"0.1.0-alpha.1+build.5", "7.0.0", "7.0.0-0", "1.10.0", "1.9.0", "1.0.0-1", "1.0.0-a", "1.0.0-1a",
	"1.0", "1.0.0.0", "01.0.0", "", "a", "1.0.0-", "1.0.0-01", "v", "1.2.3-x-y-z.-",
}

// goCases: module versions as the go command orders them (golang.org/x/mod/semver,
// module.PseudoVersion), the Go distribution's releases, and what gobin reports otherwise.
var goCases = []versionCase{
	{"module versions", "v1.4.0", "v1.10.0", -1},
	{"prerelease", "v1.4.0-rc.1", "v1.4.0", -1},
	{"pseudo-version before a first release", "v0.0.0-20240101120000-abcdef123456", "v0.1.0", -1},
	{"pseudo-versions by time", "v0.0.0-20240101120000-abcdef123456", "v0.0.0-20240201120000-012345abcdef", -1},
	{"pseudo-version after its base release", "v1.2.4-0.20240101120000-abcdef123456", "v1.2.3", 1},
	{"pseudo-version before the release it precedes", "v1.2.4-0.20240101120000-abcdef123456", "v1.2.4", -1},
	{"pseudo-version after its base prerelease", "v1.2.4-pre.0.20240101120000-abcdef123456", "v1.2.4-pre", 1},
	{"incompatible ignored", "v2.0.0+incompatible", "v2.0.0", 0},
	{"incompatible ordered", "v2.0.0+incompatible", "v3.1.0+incompatible", -1},
	{"dirty ignored", "v1.4.0+dirty", "v1.4.0", 0},
	{"devel lowest", "(devel)", "v0.0.0-00010101000000-000000000000", -1},
	{"devel below a revision", "(devel)", "0123456789ab", -1},
	{"devel below a release", "(devel)", "1.22.5", -1},
	{"devel equal", "(devel)", "(devel)", 0},
	{"a v is needed", "1.4.0", "v0.0.1", -1},
	{"releases", "1.22.5", "1.22.10", -1},
	{"release candidate before its release", "1.23rc1", "1.23.0", -1},
	{"release candidate after the previous release", "1.23rc1", "1.22.10", 1},
	{"release after a revision", "1.21.0", "0123456789ab", 1},
	{"revisions by segments", "0123456789ab", "0123456789ac", -1},
	{"a revision of digits is no release", "123456789012", "1.0", -1},
	{"shorthand is not a module version", "v1.2", "v0.0.1", -1},
}

var goVersions = []string{
	"v1.4.0", "v1.10.0", "v1.4.0-rc.1", "v0.0.0-20240101120000-abcdef123456", "v0.1.0",
	"v0.0.0-20240201120000-012345abcdef", "v1.2.4-0.20240101120000-abcdef123456", "v1.2.3", "v1.2.4",
	"v1.2.4-pre.0.20240101120000-abcdef123456", "v1.2.4-pre", "v2.0.0+incompatible", "v2.0.0",
	"v1.4.0+dirty", "(devel)", "0123456789ab", "1.22.5", "1.22.10", "1.23rc1", "1.23.0", "1.21",
	"1.21.0", "1.4.0", "v1.2", "", "v", "go1.22.5", "123456789012", "1.0",
}

func init() {
	realVersions["cargo"] = semverVersions
	realVersions["npm"] = semverVersions
	realVersions["go"] = goVersions
	for i := 1; i < len(semverChain); i++ {
		semverCases = append(semverCases, versionCase{"spec chain", semverChain[i-1], semverChain[i], -1})
	}
}

func TestCompareSemver(t *testing.T) {
	for _, f := range []string{"cargo", "npm"} {
		t.Run(f, func(t *testing.T) { testVersionCases(t, f, semverCases) })
	}
	t.Run("go", func(t *testing.T) { testVersionCases(t, "go", goCases) })
	// Go module versions are semantic versions with a "v".
	var chain []versionCase
	for i := 1; i < len(semverChain); i++ {
		chain = append(chain, versionCase{"spec chain", "v" + semverChain[i-1], "v" + semverChain[i], -1})
	}
	t.Run("go chain", func(t *testing.T) { testVersionCases(t, "go", chain) })
	// Not the plain segment ordering: a prerelease sorts before its release.
	if CompareVersions("cargo", "1.0.0-rc.1", "1.0.0") != -1 || CompareSegments("1.0.0-rc.1", "1.0.0") != 1 {
		t.Error("cargo versions are ordered by CompareSegments")
	}
}

// TestCompareSemverAgainstNode compares the cases and the neighbouring real versions with
// node-semver's compare, the one npm bundles, where npm is installed; the versions it
// refuses are left out.
func TestCompareSemverAgainstNode(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed")
	}
	cli, err := filepath.EvalSymlinks(npm)
	if err != nil {
		t.Skip(err)
	}
	mod := filepath.Join(filepath.Dir(cli), "..", "node_modules", "semver")
	var in strings.Builder
	cases := neighbours("npm", semverCases)
	for _, c := range cases {
		fmt.Fprintf(&in, "%s\t%s\n", c.a, c.b)
	}
	cmd := exec.Command("node", "-e", `const semver = require(process.argv[1]);
		const lines = require("fs").readFileSync(0, "utf8").split("\n").slice(0, -1);
		for (const l of lines) { const [a, b] = l.split("\t");
		  console.log(semver.valid(a) && semver.valid(b) ? semver.compare(a, b) : "x"); }`, mod)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("node-semver: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) != len(cases) {
		t.Fatalf("node gave %d answers for %d pairs", len(f), len(cases))
	}
	compared := 0
	for i, c := range cases {
		if f[i] == "x" {
			continue
		}
		compared++
		if n, err := strconv.Atoi(f[i]); err != nil || n != c.want {
			t.Errorf("%s: %q vs %q: node-semver says %s, CompareVersions %d", c.name, c.a, c.b, f[i], c.want)
		}
	}
	if compared < len(cases)/2 {
		t.Errorf("node compared %d of %d pairs", compared, len(cases))
	}
}

func FuzzCompareSemver(f *testing.F) {
	for _, c := range append(semverCases, goCases...) {
		f.Add(c.a, c.b)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for name, cmp := range map[string]func(a, b string) int{"semver": compareSemver, "go": compareGoVersion} {
			if c := cmp(a, a); c != 0 {
				t.Fatalf("%s: cmp(%q, itself) = %d", name, a, c)
			}
			ab, ba := cmp(a, b), cmp(b, a)
			if ab != -ba || ab < -1 || ab > 1 {
				t.Fatalf("%s: cmp(%q, %q) = %d, cmp(%q, %q) = %d", name, a, b, ab, b, a, ba)
			}
			// Equal versions are interchangeable: each compares the same with a third.
			for _, c := range []string{"1.0.0", "v1.0.0-rc.1", "1.0", "(devel)", "1.22.5", "v0.0.0-20240101120000-abcdef123456"} {
				if ab == 0 && cmp(a, c) != cmp(b, c) {
					t.Fatalf("%s: %q = %q but they compare differently with %q", name, a, b, c)
				}
			}
		}
	})
}

package protocol

import (
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pep440Sorted is PEP 440's own example of the ordering ("Summary of permitted suffixes and
// relative ordering"), in ascending order.
var pep440Sorted = []string{
	"1.dev0", "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456",
	"1.0b2", "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0",
	"1.0+abc.5", "1.0+abc.7", "1.0+5", "1.0.post456.dev34", "1.0.post456", "1.0.15", "1.1.dev1",
}

// pep440Cases are PEP 440's normalization rules (each spelling equals its normal form) and
// rules of its ordering; each is also checked against the packaging library where Python has
// it.
var pep440Cases = []versionCase{
	{"implicit zeros", "1.0", "1.0.0", 0},
	{"implicit zeros short", "1", "1.0.0.0", 0},
	{"leading zeros", "1.01", "1.1", 0},
	{"numeric not lexical", "1.9", "1.10", -1},
	{"case", "1.0RC1", "1.0rc1", 0},
	{"v prefix", "v1.0", "1.0", 0},
	{"V prefix", "V1.0", "1.0", 0},
	{"white space", " 1.0\n", "1.0", 0},
	{"alpha spelling", "1.0-alpha1", "1.0a1", 0},
	{"beta spelling", "1.0.beta.2", "1.0b2", 0},
	{"c is rc", "1.0c1", "1.0rc1", 0},
	{"pre is rc", "1.0pre1", "1.0rc1", 0},
	{"preview is rc", "1.0preview1", "1.0rc1", 0},
	{"prerelease separators", "1.0_a_1", "1.0a1", 0},
	{"implicit prerelease number", "1.0a", "1.0a0", 0},
	{"prerelease trailing separator", "1.0a.", "1.0a0", 0},
	{"post separators", "1.0.post-1", "1.0.post1", 0},
	{"post spelled -N", "1.0-1", "1.0.post1", 0},
	{"rev is post", "1.0rev3", "1.0.post3", 0},
	{"r is post", "1.0-r4", "1.0.post4", 0},
	{"implicit post number", "1.0.post", "1.0.post0", 0},
	{"dev separators", "1.0-dev-2", "1.0.dev2", 0},
	{"implicit dev number", "1.0.dev", "1.0.dev0", 0},
	{"local separators", "1.0+ubuntu-1", "1.0+ubuntu.1", 0},
	{"local case", "1.0+ABC", "1.0+abc", 0},
	{"local number leading zeros", "1.0+01", "1.0+1", 0},
	{"epoch", "1!1.0", "2.0", 1},
	{"epoch zero", "0!1.0", "1.0", 0},
	{"epoch beats release", "2!0.1", "1!9.9", 1},
	{"prerelease before release", "1.0rc1", "1.0", -1},
	{"alpha before beta", "1.0a9", "1.0b1", -1},
	{"beta before rc", "1.0b9", "1.0rc1", -1},
	{"dev before alpha", "1.0.dev9", "1.0a0", -1},
	{"dev of prerelease before it", "1.0a1.dev1", "1.0a1", -1},
	{"post after release", "1.0.post1", "1.0", 1},
	{"post before next release", "1.0.post9", "1.0.1", -1},
	{"dev of post before it", "1.0.post1.dev1", "1.0.post1", -1},
	{"dev of post after release", "1.0.post1.dev1", "1.0", 1},
	{"post of prerelease", "1.0a1.post1", "1.0a2", -1},
	{"local after public", "1.0+local", "1.0", 1},
	{"local before post", "1.0+local", "1.0.post0", -1},
	{"local number after letters", "1.0+1", "1.0+abc", 1},
	{"local numbers", "1.0+9", "1.0+10", -1},
	{"local longer", "1.0+abc", "1.0+abc.1", -1},
	{"local letters", "1.0+abc", "1.0+abd", -1},
	{"long numbers", "1.99999999999999999999", "1.100000000000000000000", -1},
	{"invalid after valid", "1.0.0-foo", "999", 1},
	{"invalid after valid epoch", "not a version", "99!1", 1},
	{"invalid among themselves", "1.0-foo", "1.0-goo", -1},
	{"invalid equal", "foo", "foo", 0},
	{"empty is invalid", "", "0", 1},
	{"trailing dash invalid", "1.0-", "1.0", 1},
	{"bare epoch invalid", "1!", "1", 1},
	{"empty local invalid", "1.0+", "1.0", 1},
	{"doubled local separator invalid", "1.0+a..b", "1.0+a.b", 1},
}

// pep440Versions are versions of real distributions (pip, setuptools, numpy, Django,
// cryptography, Debian's patched ones), for the consistency properties.
var pep440Versions = []string{
	"23.0.1", "24.0", "66.1.1", "69.0.3", "1.26.4", "2.0.0rc1", "2.0.0b1", "2.0.0", "4.2.11", "5.0a1",
	"5.0.dev20230101", "42.0.5", "3.4.8", "1.16.0", "2.28.1", "0.38.4", "1.0.post1", "1.0+deb12u1",
	"2.1.0+cpu", "2.1.0+cu121", "1!2.0", "2013b", "0.1.dev0", "1.0-1", "1.0c1", "v1.0", "1.0.0",
	"", "0", "foo", "1.0-foo", "2.7.18", "3.12.1", "1.0a", "1.0.a.1", "1.0.post.dev", "1.0+a.1.b",
}

func init() { realVersions["pypi"] = pep440Versions }

func TestComparePEP440(t *testing.T) {
	testVersionCases(t, "pypi", pep440Cases)
	if _, ok := VersionOrder("pypi"); !ok {
		t.Error("pypi has no ordering registered")
	}
	for i, a := range pep440Sorted {
		for j, b := range pep440Sorted {
			if want := sign(i - j); CompareVersions("pypi", a, b) != want {
				t.Errorf("CompareVersions(pypi, %q, %q) = %d, want %d", a, b, CompareVersions("pypi", a, b), want)
			}
		}
	}
	shuffled := slices.Clone(pep440Sorted)
	slices.Reverse(shuffled)
	if got := sortedVersions("pypi", shuffled); !slices.Equal(got, pep440Sorted) {
		t.Errorf("sorted: %q", got)
	}
	// Not the plain segment ordering: a prerelease sorts before its release.
	if CompareVersions("pypi", "1.0rc1", "1.0") != -1 || CompareSegments("1.0rc1", "1.0") != 1 {
		t.Error("pypi versions are ordered by CompareSegments")
	}
}

// pep440Reference is a Python program that reads "a\tb" lines and prints -1, 0 or 1 as
// packaging's Version orders them, or x when either is not a version. Debian's pip vendors
// packaging where the library itself is not installed.
const pep440Reference = `import sys
try:
    from packaging.version import Version, InvalidVersion
except ImportError:
    from pip._vendor.packaging.version import Version, InvalidVersion
for line in sys.stdin:
    a, b = line.rstrip("\n").split("\t", 1)
    try:
        x, y = Version(a), Version(b)
    except InvalidVersion:
        print("x")
        continue
    print((x > y) - (x < y))
`

// TestComparePEP440AgainstPackaging compares the cases, PEP 440's example and the
// neighbouring real versions with the packaging library, in one run of Python; the versions
// it refuses are left out.
func TestComparePEP440AgainstPackaging(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	if exec.Command(py, "-c", "from pip._vendor.packaging.version import Version").Run() != nil &&
		exec.Command(py, "-c", "from packaging.version import Version").Run() != nil {
		t.Skip("python3 has neither packaging nor pip")
	}
	cases := neighbours("pypi", pep440Cases)
	for i := 1; i < len(pep440Sorted); i++ {
		cases = append(cases, versionCase{"example", pep440Sorted[i-1], pep440Sorted[i], -1})
	}
	var in strings.Builder
	for _, c := range cases {
		if strings.ContainsAny(c.a+c.b, "\t\n") {
			c.a, c.b = "x", "x"
		}
		fmt.Fprintf(&in, "%s\t%s\n", c.a, c.b)
	}
	cmd := exec.Command(py, "-c", pep440Reference)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) != len(cases) {
		t.Fatalf("python gave %d answers for %d pairs", len(f), len(cases))
	}
	compared := 0
	for i, c := range cases {
		if f[i] == "x" {
			if _, ok := parsePEP440(c.a); ok && !strings.ContainsAny(c.a+c.b, "\t\n") {
				if _, ok := parsePEP440(c.b); ok {
					t.Errorf("%s: packaging refuses %q or %q", c.name, c.a, c.b)
				}
			}
			continue
		}
		compared++
		if n, err := strconv.Atoi(f[i]); err != nil || n != c.want {
			t.Errorf("%s: %q vs %q: packaging says %s, CompareVersions %d", c.name, c.a, c.b, f[i], c.want)
		}
	}
	if compared < len(pep440Cases)/2 {
		t.Errorf("packaging compared %d of %d pairs", compared, len(cases))
	}
}

// TestParsePEP440Refuses: what packaging refuses is no version here either.
func TestParsePEP440Refuses(t *testing.T) {
	for _, v := range []string{"", "v", "1.0-", "1!", "1.0+", "1.0+a..b", "1.0+.a", "1.0+a.", "a1",
		"1.0.x", "1.0rc1rc2", "1.0.post1.post2", "1.0.dev1.dev2", "1.0.dev1.post1", "1.0+é", "1..0", "1.0 1"} {
		if _, ok := parsePEP440(v); ok {
			t.Errorf("%q read as a version", v)
		}
	}
}

func FuzzComparePEP440(f *testing.F) {
	for _, c := range pep440Cases {
		f.Add(c.a, c.b)
	}
	for i := 1; i < len(pep440Sorted); i++ {
		f.Add(pep440Sorted[i-1], pep440Sorted[i])
	}
	thirds := []string{"1.0", "1.0a1", "1.0.post1", "1.0+abc", "0!1.dev0", "foo", ""}
	f.Fuzz(func(t *testing.T, a, b string) {
		if c := comparePEP440(a, a); c != 0 {
			t.Fatalf("cmp(%q, itself) = %d", a, c)
		}
		ab, ba := comparePEP440(a, b), comparePEP440(b, a)
		if ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("cmp(%q, %q) = %d, cmp(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		// Equal versions are interchangeable: each compares the same with a third.
		for _, c := range thirds {
			if ab == 0 && comparePEP440(a, c) != comparePEP440(b, c) {
				t.Fatalf("%q = %q but they compare differently with %q", a, b, c)
			}
		}
	})
}

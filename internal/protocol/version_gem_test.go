package protocol

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// gemCases are RubyGems' own (test/rubygems/test_gem_version.rb: test_spaceship,
// test_semver, test_canonical_segments, test_equals2, test_initialize), then versions of real gems; each is also
// checked against Gem::Version where Ruby is installed.
var gemCases = []versionCase{
	{"trailing zero", "1.0", "1.0.0", 0},
	{"release after prerelease", "1.0", "1.0.a", 1},
	{"major", "1.8.2", "0.0.0", 1},
	{"release after its prerelease", "1.8.2", "1.8.2.a", 1},
	{"prerelease letters", "1.8.2.b", "1.8.2.a", 1},
	{"prerelease before release", "1.8.2.a", "1.8.2", -1},
	{"prerelease numbers", "1.8.2.a10", "1.8.2.a9", 1},
	{"empty is zero", "", "0", 0},
	{"zeros before the prerelease", "0.beta.1", "0.0.beta.1", 0},
	{"shorter prerelease", "0.0.beta", "0.0.beta.1", -1},
	{"shorter prerelease, fewer zeros", "0.0.beta", "0.beta.1", -1},
	{"prerelease against release zeros", "5.a", "5.0.0.rc2", -1},
	{"later prerelease letters", "5.x", "5.0.0.rc2", 1},
	{"letters split", "1.2.b1", "1.2.b.1", 0},
	{"white space", "1.0", " 1.0 \n", 0},
	{"semver alpha", "1.0.0-alpha", "1.0.0-alpha.1", -1},
	{"semver alpha beta", "1.0.0-alpha.1", "1.0.0-beta.2", -1},
	{"semver beta numbers", "1.0.0-beta.2", "1.0.0-beta.11", -1},
	{"semver beta rc", "1.0.0-beta.11", "1.0.0-rc.1", -1},
	{"semver rc", "1.0.0-rc1", "1.0.0", -1},
	{"hyphen prerelease before release", "1.0.0-1", "1", -1},
	{"canonical prerelease zeros", "1.0.0.a.1.0", "1.0.0.a.1", 0},
	{"hyphen is pre", "1.0.0-1", "1.0.0.pre.1", 0},
	{"rails rc", "7.1.0.rc1", "7.1.0", -1},
	{"rails beta rc", "7.1.0.beta1", "7.1.0.rc1", -1},
	{"numeric not lexical", "1.9.3", "1.10.0", -1},
	{"uppercase first", "1.0.A", "1.0.a", -1},
	{"long numbers", "1.99999999999999999999", "1.100000000000000000000", -1},
	{"leading zeros", "1.01", "1.1", 0},
}

// gemVersions are versions of real gems (rails, nokogiri, bundler, rack), some of the same
// gem, some not, for the consistency properties.
var gemVersions = []string{
	"7.1.3.4", "7.1.3", "7.1.0", "7.1.0.rc1", "7.1.0.beta1", "7.0.8.4", "6.1.7.8", "1.16.6",
	"1.16.6-x86_64-linux", "1.15.0.rc1", "2.5.14", "2.5.0.dev", "3.0.11", "3.0.0.beta1", "2.2.8.1",
	"1.0", "1.0.0", "1.0.a", "1.0-1", "1.0.0.pre.1", "", "0", "0.0.beta", "0.beta.1", "5.a",
	"5.0.0.rc2", "5.x", "1.2.b1", "1.2.b.1", "1.0.A", "01", "a", "A", "1a", "a1", "1.9", "1.10",
}

func init() { realVersions["gem"] = gemVersions }

func TestCompareGemVersions(t *testing.T) {
	testVersionCases(t, "gem", gemCases)
	if _, ok := VersionOrder("gem"); !ok {
		t.Error("gem has no ordering registered")
	}
	// Not the plain segment ordering: a prerelease sorts before its release.
	if CompareVersions("gem", "1.0.a", "1.0") != -1 || CompareSegments("1.0.a", "1.0") != 1 {
		t.Error("gem versions are ordered by CompareSegments")
	}
}

// TestCompareGemVersionsAgainstRuby compares the cases and the neighbouring real versions
// with Gem::Version#<=>, in one run of Ruby; the versions RubyGems refuses are left out.
func TestCompareGemVersionsAgainstRuby(t *testing.T) {
	if _, err := exec.LookPath("ruby"); err != nil {
		t.Skip("ruby is not installed")
	}
	var cases []versionCase
	for _, c := range neighbours("gem", gemCases) {
		if !strings.ContainsAny(c.a+c.b, "\t\n") {
			cases = append(cases, c)
		}
	}
	var in strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&in, "%s\t%s\n", c.a, c.b)
	}
	cmd := exec.Command("ruby", "-rrubygems", "-e",
		`STDIN.each_line { |l| a, b = l.chomp.split("\t", 2)
		  puts(Gem::Version.correct?(a) && Gem::Version.correct?(b) ? Gem::Version.new(a) <=> Gem::Version.new(b) : "x") }`)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) != len(cases) {
		t.Fatalf("ruby gave %d answers for %d pairs", len(f), len(cases))
	}
	compared := 0
	for i, c := range cases {
		if f[i] == "x" { // a version RubyGems refuses
			continue
		}
		compared++
		if n, err := strconv.Atoi(f[i]); err != nil || n != c.want {
			t.Errorf("%s: %q vs %q: Gem::Version says %s, CompareVersions %d", c.name, c.a, c.b, f[i], c.want)
		}
	}
	if compared < len(gemCases)/2 {
		t.Errorf("Ruby compared %d of %d pairs", compared, len(cases))
	}
}

func FuzzCompareGemVersions(f *testing.F) {
	for _, c := range gemCases {
		f.Add(c.a, c.b)
	}
	for i := 1; i < len(gemVersions); i++ {
		f.Add(gemVersions[i-1], gemVersions[i])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if c := compareGem(a, a); c != 0 {
			t.Fatalf("cmp(%q, itself) = %d", a, c)
		}
		ab, ba := compareGem(a, b), compareGem(b, a)
		if ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("cmp(%q, %q) = %d, cmp(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		// Equal versions are interchangeable: each compares the same with a third.
		for _, c := range []string{"1.0", "1.0.a", "0", "2.b.3"} {
			if ab == 0 && compareGem(a, c) != compareGem(b, c) {
				t.Fatalf("%q = %q but they compare differently with %q", a, b, c)
			}
		}
	})
}

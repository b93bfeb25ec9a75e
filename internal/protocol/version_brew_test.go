package protocol

import "testing"

// brewCases follow Homebrew's own (Library/Homebrew/test/version_spec.rb and
// pkg_version_spec.rb), then versions of real formulae.
var brewCases = []versionCase{
	{"trailing zero", "0.1", "0.1.0", 0},
	{"minor", "0.1", "0.2", -1},
	{"patch", "1.2.3", "1.2.2", 1},
	{"longer", "1.2.4", "1.2.4.1", -1},
	{"alpha before beta", "1.2.3alpha4", "1.2.3beta2", -1},
	{"beta before rc", "1.2.3beta2", "1.2.3rc3", -1},
	{"rc before release", "1.2.3rc3", "1.2.3", -1},
	{"pre between beta and rc", "1.2.3beta2", "1.2.3pre1", -1},
	{"pre before rc", "1.2.3pre9", "1.2.3rc1", -1},
	{"patch level after release", "1.2.3", "1.2.3-p34", -1},
	{"zero skipped before a patch level", "2.1.0-p194", "2.1-p195", -1},
	{"post after release", "1.0", "1.0.post1", -1},
	{"post numbers", "1.0.post2", "1.0.post10", -1},
	{"alpha numbers", "1.0a2", "1.0a10", -1},
	{"alpha word", "1.0alpha", "1.0a1", -1},
	{"beta word", "1.0beta3", "1.0b3", 0},
	{"letters after release", "1.1.1", "1.1.1a", -1},
	{"letters", "1.1.1v", "1.1.1w", -1},
	{"numeric not lexical", "3.9.10", "3.12.4", -1},
	{"letters before next", "0.9.8zh", "1.0.0", -1},
	{"HEAD last", "HEAD", "2.0", 1},
	{"HEAD commits equal", "HEAD-1a2b3c4", "HEAD", 0},
	{"revision", "1.2.3_1", "1.2.3", 1},
	{"revisions", "1.2.3_1", "1.2.3_2", -1},
	{"revision numbers", "1.2.3_10", "1.2.3_9", 1},
	{"version before revision", "1.2.4", "1.2.3_9", 1},
	{"revision of an equal version", "1.0_1", "1.0.0", 1},
	{"revision of a dated version", "20240407_1", "20240407", 1},
	{"dates", "2024.04.07", "2024.10.01", -1},
	{"letter after release", "1.2.3", "1.2.3a", -1},
	{"alpha case", "1.2.3alpha4", "1.2.3A4", 0},
	{"post after rc", "1.2.3rc35", "1.2.3.post34", -1},
	{"patch after rc", "1.2.3rc3", "1.2.3-p34", -1},
	{"uneven padding", "2.1-p194", "2.1.0-p195", -1},
	{"uneven padding, shorter", "2-p194", "2.1-p195", -1},
	{"empty first", "", "0", -1},
	{"underscore only", "_1", "1", 0},
}

// brewVersions are versions of real formulae (openssl@3, python@3.12, git, icu4c, ruby,
// openssh, libressl, tzdata, a HEAD install) and keg names with revisions, some of the same
// formula, some not, for the consistency properties.
var brewVersions = []string{
	"3.3.2", "3.3.1_1", "3.3.1", "3.12.4", "3.12.4_1", "3.12.3", "3.9.19_1", "2.46.0", "2.45.2",
	"74.2_1", "75.1", "3.3.4", "3.3.4_1", "9.8p1", "9.8p1_1", "9.7p1", "1.1.1w", "1.1.1v", "1.1.1",
	"2024a", "2024b", "1.0.0-rc2", "1.0.0-beta1", "1.0.0", "HEAD-1a2b3c4", "HEAD", "1.24.5", "1.24.5_1",
	"0.9.8zh", "20240407", "20240407_1", "2024.04.07", "1.0.post1", "1.0", "1.0_1", "",
}

func init() { realVersions["brew"] = brewVersions }

func TestCompareBrewVersions(t *testing.T) {
	testVersionCases(t, "brew", brewCases)
	for _, f := range []string{"brew", "brew-cask"} {
		if _, ok := VersionOrder(f); !ok {
			t.Errorf("%s has no ordering registered", f)
		}
	}
	// Not the plain segment ordering: a release candidate sorts before its release.
	if CompareVersions("brew", "1.0rc1", "1.0") != -1 || CompareSegments("1.0rc1", "1.0") != 1 {
		t.Error("brew versions are ordered by CompareSegments")
	}
	if a, b := "1.0rc1", "1.0"; CompareVersions("brew-cask", a, b) != CompareSegments(a, b) {
		t.Error("cask versions are not ordered by CompareSegments")
	}
}

// TestBrewErlangVersions: Homebrew's own sorting of Erlang's release names.
func TestBrewErlangVersions(t *testing.T) {
	want := []string{"R13B02-1", "R13B03", "R13B04", "R14B", "R14B01", "R14B02", "R14B03", "R14B04",
		"R15B", "R15B01", "R15B02", "R15B03", "R15B03-1", "R16B"}
	for i := 1; i < len(want); i++ {
		if c := compareBrew(want[i-1], want[i]); c != -1 {
			t.Errorf("%q vs %q: %d", want[i-1], want[i], c)
		}
	}
}

func TestBrewTokens(t *testing.T) {
	for _, tt := range []struct {
		in    string
		kinds []int
	}{
		{"1.2.3", []int{brewNumeric, brewNumeric, brewNumeric}},
		{"1.0a1", []int{brewNumeric, brewNumeric, brewAlpha}},
		{"2.1-p195", []int{brewNumeric, brewNumeric, brewPatch}},
		{"1.0.post1", []int{brewNumeric, brewNumeric, brewPost}},
		{"1.0RC2", []int{brewNumeric, brewNumeric, brewRC}},
		{"0.9.8zh", []int{brewNumeric, brewNumeric, brewNumeric, brewString}},
	} {
		toks := brewTokens(tt.in)
		if len(toks) != len(tt.kinds) {
			t.Errorf("%q: %+v", tt.in, toks)
			continue
		}
		for i, k := range tt.kinds {
			if toks[i].kind != k {
				t.Errorf("%q: token %d is %+v, want kind %d", tt.in, i, toks[i], k)
			}
		}
	}
}

func FuzzCompareBrewVersions(f *testing.F) {
	for _, c := range brewCases {
		f.Add(c.a, c.b)
	}
	for i := 1; i < len(brewVersions); i++ {
		f.Add(brewVersions[i-1], brewVersions[i])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if c := compareBrew(a, a); c != 0 {
			t.Fatalf("cmp(%q, itself) = %d", a, c)
		}
		ab, ba := compareBrew(a, b), compareBrew(b, a)
		if ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("cmp(%q, %q) = %d, cmp(%q, %q) = %d", a, b, ab, b, a, ba)
		}
	})
}

package protocol

import (
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type versionCase struct {
	name string
	a, b string
	want int
}

// debCases follow dpkg's ordering (deb-version(7) and dpkg's own tests); each is also
// checked against dpkg --compare-versions where dpkg is installed.
var debCases = []versionCase{
	{"equal", "1.0", "1.0", 0},
	{"tilde before release", "1.0~rc1", "1.0", -1},
	{"tilde before tilde release", "1.0~rc1", "1.0~rc2", -1},
	{"double tilde first", "1.0~~", "1.0~", -1},
	{"tilde before empty", "1.0~", "1.0", -1},
	{"epoch beats version", "1:0.1", "2.0", 1},
	{"epoch zero is no epoch", "0:1.0", "1.0", 0},
	{"longer epoch", "10:1.0", "9:2.0", 1},
	{"revision", "1.0-1", "1.0-2", -1},
	{"revision with dot", "1.0-1", "1.0-1.1", -1},
	{"NMU revision", "1.0-1", "1.0-1+b1", -1},
	{"letters after release", "1.0a", "1.0", 1},
	{"binNMU", "1.0+b1", "1.0", 1},
	{"plus after letters", "1.0+dfsg", "1.0a", 1},
	{"dot after letters", "1.0.a", "1.0a", 1},
	{"zero padding", "1.01", "1.1", 0},
	{"zeros only", "1.000", "1.0", 0},
	{"empty revision is zero", "1.0", "1.0-0", 0},
	{"missing revision before one", "1.0", "1.0-1", -1},
	{"numeric not lexical", "1.2.3", "1.2.10", -1},
	{"more parts", "1.0.1", "1.0", 1},
	{"hyphen in upstream sorts after its end", "1.0-beta-1", "1.0-1", 1},
	{"backport", "1.0-1~bpo12+1", "1.0-1", -1},
	{"stable update", "7.88.1-10+deb12u6", "7.88.1-10+deb12u5", 1},
	{"security update of tilde", "3.0.13-1~deb12u1", "3.0.11-1~deb12u2", 1},
	{"docker epoch", "5:26.1.4-1~debian.12~bookworm", "26.1.4-1", 1},
	{"openssh p-release", "1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u2", 1},
	{"sudo p-release", "1.9.13p3-1+deb12u1", "1.9.14-1", -1},
	{"tzdata letters", "2024a-0+deb12u1", "2023c-5+deb12u1", 1},
	{"long numbers", "1.99999999999999999999", "1.100000000000000000000", -1},
	{"uppercase before lowercase", "1.0A", "1.0a", -1},
}

// rpmCases follow rpmvercmp and rpmverCmp (rpm 4.18); each is also checked against rpm's own
// rpm.vercmp where rpm is installed.
var rpmCases = []versionCase{
	{"equal", "1.0", "1.0", 0},
	{"more parts", "1.0", "1.0.1", -1},
	{"number beats letters", "2.0a", "2.0.1", -1},
	{"letters after the end", "1.0a", "1.0", 1},
	{"letters compare", "1.0a", "1.0b", -1},
	{"uppercase first", "1.0A", "1.0a", -1},
	{"tilde before release", "1.0~rc1", "1.0", -1},
	{"tilde versions", "1.0~rc1", "1.0~rc2", -1},
	{"double tilde", "1.0~~", "1.0~", -1},
	{"caret after release", "1.0^git1", "1.0", 1},
	{"caret before next release", "1.0^git1", "1.0.1", -1},
	{"caret versions", "1.0^git1", "1.0^git2", -1},
	{"bare caret", "1.0^", "1.0", 1},
	{"caret after tilde", "1.0~rc1^git1", "1.0~rc1", 1},
	{"caret before tilde's release", "1.0~rc1^git1", "1.0", -1},
	{"p-release", "5.5p1", "5.5p10", -1},
	{"p-release after release", "5.5p1", "5.5", 1},
	{"epoch", "1:1.0", "2.0", 1},
	{"epoch zero", "0:1.0", "1.0", 0},
	{"empty epoch", ":1.0", "1.0", 0},
	{"release", "1.0-1", "1.0-2", -1},
	{"release suffix", "1.0-1.el9", "1.0-1.el9_4", -1},
	{"missing release first", "1.0", "1.0-1", -1},
	{"empty release after missing", "1.0-", "1.0", 1},
	{"zero padding", "1.01", "1.1", 0},
	{"more zeros", "1.0.0", "1.0", 1},
	{"separators equal", "1_0", "1.0", 0},
	{"separator runs equal", "1..0", "1.0", 0},
	{"letters before numbers", "a", "1", -1},
	{"kernel", "5.14.0-427.13.1.el9_4", "5.14.0-362.8.1.el9_3", 1},
	{"kernel z-stream", "5.14.0-427.13.1.el9_4", "5.14.0-427.16.1.el9_4", -1},
	{"nginx epoch", "1:1.20.1-14.el9_2.1", "1.22.1-1.el9", 1},
	{"glibc", "2.34-100.el9_4.2", "2.34-83.el9.12", 1},
	{"ca-certificates", "2023.2.60_v7.0.306-90.1.el9_2", "2024.2.69_v8.0.303-91.4.el9_4", -1},
	{"long numbers", "1.99999999999999999999", "1.100000000000000000000", -1},
}

// pacmanCases follow pacman's vercmp, which differs from rpm's on letters after a release,
// on '~' and on separators; each is also checked against vercmp where it is installed.
var pacmanCases = []versionCase{
	{"equal", "1.0-1", "1.0-1", 0},
	{"more parts", "1.0", "1.0.1", -1},
	{"letters before release", "1.0a", "1.0", -1},
	{"alpha before release", "1.0alpha-1", "1.0-1", -1},
	{"alpha before beta", "1.0alpha", "1.0beta", -1},
	{"dotted letters after release", "1.0.alpha", "1.0", 1},
	{"dotted letters before next", "1.0.alpha", "1.0.0", -1},
	{"no tilde rule", "1.0~rc1", "1.0", 1},
	{"longer separator wins", "1..0", "1.0", 1},
	{"epoch", "1:1.0-1", "2.0-1", 1},
	{"epoch zero", "0:1.0-1", "1.0-1", 0},
	{"release only when both", "1.0-1", "1.0", 0},
	{"release", "1.0-2", "1.0-1", 1},
	{"linux", "6.8.9.arch1-2", "6.8.9.arch1-1", 1},
	{"linux upstream", "6.8.9.arch1-1", "6.9.1.arch1-1", -1},
	{"openssh", "9.7p1-2", "9.6p1-1", 1},
	{"less epoch", "1:643-1", "700-1", 1},
	{"sudo dotted p", "1.9.15.p5-1", "1.9.15-1", 1},
	{"zlib epoch", "1:1.3.1-1", "1:1.3-5", 1},
	{"zero padding", "1.01", "1.1", 0},
	{"number beats letters", "1.0.1", "1.0.a", 1},
}

// apkCases follow apk-tools' version.c: digits, one letter, suffixes (_alpha, _beta, _pre,
// _rc before the release; _cvs, _svn, _git, _hg, _p after), a ~commit hash and -rN.
var apkCases = []versionCase{
	{"equal", "1.2.3-r0", "1.2.3-r0", 0},
	{"revision", "1.2.3-r1", "1.2.3-r0", 1},
	{"revision numeric", "1.2.3-r10", "1.2.3-r9", 1},
	{"revision after none", "1.2.3-r1", "1.2.3", 1},
	{"more parts", "1.2.3", "1.2", 1},
	{"numeric parts", "1.10", "1.9", 1},
	{"letter", "1.2a", "1.2", 1},
	{"letter before next part", "1.2a", "1.2.1", -1},
	{"letters", "2.3.0b-r1", "2.3.0a-r1", 1},
	{"rc before release", "3.0.0_rc1-r0", "3.0.0-r0", -1},
	{"alpha before beta", "1.0_alpha", "1.0_beta", -1},
	{"beta before pre", "1.0_beta2", "1.0_pre1", -1},
	{"pre before rc", "1.0_pre9", "1.0_rc1", -1},
	{"git after release", "1.2.4_git20230717-r4", "1.2.4-r4", 1},
	{"git snapshots", "1.2.4_git20230717-r4", "1.2.4_git20240101-r0", -1},
	{"cvs before svn", "1.0_cvs", "1.0_svn", -1},
	{"hg before p", "1.0_hg1", "1.0_p1", -1},
	{"p-release", "9.6_p1-r0", "9.7_p1-r0", -1},
	{"p numbers", "1.0_p10-r0", "1.0_p9-r0", 1},
	{"dated p", "6.4_p20231125-r0", "6.4_p20240330-r0", -1},
	{"double suffix", "0.1.0_alpha_pre2", "0.1.0_alpha", -1},
	{"suffix number", "0.1.0_alpha2", "0.1.0_alpha", 1},
	{"leading zero is a fraction", "1.01", "1.1", -1},
	{"fractions compare as text", "1.02", "1.010", 1},
	{"first part numeric", "006", "1.0.0", 1},
	{"date versions", "20230506-r0", "20191127-r5", 1},
	{"commit hash after suffix", "1.0_git1~abc1-r0", "1.0_git1-r0", 1},
	{"commit hashes", "1.0~abc1", "1.0~abd1", -1},
	{"invalid tail sorts first", "1.0-foo", "1.0", -1},
	{"unknown suffix", "1.0_foo", "1.0", -1},
	{"invalid versions equal", "foo", "bar", 0},
}

func testVersionCases(t *testing.T, source string, cases []versionCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CompareVersions(source, tc.a, tc.b); got != tc.want {
				t.Errorf("CompareVersions(%q, %q, %q) = %d, want %d", source, tc.a, tc.b, got, tc.want)
			}
			if got := CompareVersions(source, tc.b, tc.a); got != -tc.want {
				t.Errorf("CompareVersions(%q, %q, %q) = %d, want %d", source, tc.b, tc.a, got, -tc.want)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	t.Run("deb", func(t *testing.T) { testVersionCases(t, "deb", debCases) })
	t.Run("rpm", func(t *testing.T) { testVersionCases(t, "rpm", rpmCases) })
	t.Run("pacman", func(t *testing.T) { testVersionCases(t, "pacman", pacmanCases) })
	t.Run("apk", func(t *testing.T) { testVersionCases(t, "apk", apkCases) })
	// Formats without an ordering of their own get the plain segment ordering, not another
	// package manager's.
	t.Run("other", func(t *testing.T) { testVersionCases(t, "tgz", segmentCases) })
}

// segmentCases follow CompareSegments, the ordering of formats no package manager's
// ordering is registered for.
var segmentCases = []versionCase{
	{"equal", "1.0", "1.0", 0},
	{"more segments", "1.0", "1.0.1", -1},
	{"numbers as numbers", "1.9", "1.10", -1},
	{"leading zeros aside", "1.01", "1.1", 0},
	{"letters byte by byte", "1.0a", "1.0b", -1},
	{"uppercase first", "1.0A", "1.0a", -1},
	{"letters after the end", "1.0a", "1.0", 1},
	{"digits after other bytes", "a1", "1a", -1},
	{"a longer run of other bytes", "1.a", "1.1", 1},
	{"separators byte by byte", "1-0", "1.0", -1},
	{"no tilde rule", "1.0~rc1", "1.0", 1},
	{"empty first", "", "0", -1},
	{"both empty", "", "", 0},
	{"long numbers", "20240101123456789012", "20240101123456789013", -1},
	{"not rpm's: letters before a dot", "2.0a", "2.0.1", 1},
}

// TestUnregisteredFormatIsNotRPM: a format without an ordering of its own is ordered by
// CompareSegments, where rpm's ordering answers differently, and has no ordering registered.
func TestUnregisteredFormatIsNotRPM(t *testing.T) {
	if _, ok := VersionOrder("tgz"); ok {
		t.Fatal("tgz has an ordering registered")
	}
	for _, f := range []string{"deb", "rpm", "apk", "pacman"} {
		if _, ok := VersionOrder(f); !ok {
			t.Errorf("%s has no ordering registered", f)
		}
	}
	if a, b := "2.0a", "2.0.1"; CompareVersions("tgz", a, b) != CompareSegments(a, b) || CompareVersions("tgz", a, b) == CompareVersions("rpm", a, b) {
		t.Errorf("tgz %q vs %q: %d, segments %d, rpm %d", a, b, CompareVersions("tgz", a, b), CompareSegments(a, b), CompareVersions("rpm", a, b))
	}
}

// realVersions are versions from the fixture hosts and their distributions' archives, some
// versions of the same package, some not.
var realVersions = map[string][]string{
	// A format without an ordering of its own: a mix from every package manager.
	"tgz": {
		"1.0", "1.0.1", "1.0a", "1.01", "1.0~rc1", "1.0-1", "1.0^git1", "1:1.0-1", "2.0a", "2.0.1", "5.2.15-2+b2",
		"1.0_p1-r0", "20230506", "2024.04.07-1", "", "0", "00", "a", "A", "1a", "a1", "1.9", "1.10",
	},
	"deb": {
		"12.4+deb12u5", "12.5", "5.2.15-2+b2", "5.2.15-2", "5.2.15-3", "9.1-1", "7.88.1-10+deb12u6",
		"7.88.1-10+deb12u5", "7.88.1-10", "5:26.1.4-1~debian.12~bookworm", "5:26.1.3-1~debian.12~bookworm",
		"11.0.0", "11.0.0~beta1", "2.36-9+deb12u7", "2.36-9+deb12u4", "3.0.13-1~deb12u1", "3.0.11-1~deb12u2",
		"3.0.13-1", "1:10.11.6-0+deb12u1", "10.11.6-0+deb12u1", "1.22.1-9", "1.22.1-9+deb12u1",
		"1:9.2p1-2+deb12u3", "1:9.2p1-2", "15.7-0+deb12u1", "15.6-0+deb12u1", "3.11.2-6+deb12u2",
		"1.9.13p3-1+deb12u1", "1.9.13p3-1", "1.9.14-1", "2024a-0+deb12u1", "2023c-5+deb12u1",
		"1.0~rc1", "1.0", "1.0-0", "1.0a", "1.0+b1", "1.01", "1.0-1~bpo12+1", "0.0~git20230101.1a2b3c-1",
		"2.0+dfsg-1", "2.0-1+b1", "2.0-1.1", "1:2.0-1",
	},
	"rpm": {
		"5.1.8-9.el9", "5.1.8-10.el9", "2023.2.60_v7.0.306-90.1.el9_2", "4.5-1.el9", "8.32-35.el9",
		"7.76.1-29.el9_4", "7.76.1-29.el9_4.1", "4.14.0-9.el9", "3.16-2.el9", "2.34-100.el9_4.2",
		"2.34-83.el9.12", "5.14.0-427.13.1.el9_4", "5.14.0-427.16.1.el9_4", "5.14.0-362.8.1.el9_3",
		"1:1.20.1-14.el9_2.1", "1.22.1-1.el9", "8.7p1-38.el9", "8.7p1-38.el9_4.1", "1:3.0.7-27.el9",
		"1:3.0.7-28.el9_4", "3.0.7-27.el9", "13.14-1.el9_3", "1.9.5p2-10.el9_3", "1.9.5p2-9.el9",
		"252-32.el9_4", "252-32.el9_4.7", "1.0~rc1-1", "1.0-1", "1.0^git1-1", "1.0.1-1", "1.0", "1.0-",
		"1:1.0.2k-19.el7", "1.0.2k-19.el7", "3.10.0-1160.el7", "249.16-150400.8.35.1", "15.5-lp155.286.1",
	},
	"pacman": {
		"1-1", "5.2.026-2", "5.2.026-1", "9.5-1", "8.7.1-6", "2024.04.07-1", "2.39-1", "2.39+r3+g1a2b-1",
		"1:643-1", "643-1", "6.8.9.arch1-2", "6.8.9.arch1-1", "6.9.1.arch1-1", "1.26.0-1", "9.7p1-2",
		"9.6p1-1", "3.3.0-1", "6.1.0-3", "16.2-3", "3.12.3-1", "1.9.15.p5-1", "1.9.15-1", "255.5-3",
		"1.1.3-1", "1:1.3.1-1", "1:1.3-5", "1.0alpha-1", "1.0beta-1", "1.0-1", "1.0.alpha-1", "1.0.0-1",
	},
	"apk": {
		"3.4.3-r2", "3.4.3-r1", "2.4-r1", "2.14.0-r5", "2.14.0_rc1-r0", "1.36.1-r15", "1.36.1-r2",
		"20230506-r0", "20191127-r5", "0.7.2-r5", "3.1.4-r5", "3.1.4_alpha1-r0", "20230828.3.1-r3",
		"6.4_p20231125-r0", "6.4_p20240330-r0", "6.4-r0", "1.2.4_git20230717-r4", "1.2.4-r4", "1.2.5-r0",
		"1.24.0-r15", "9.6_p1-r0", "9.7_p1-r0", "10.42-r2", "1.3.7-r2", "1.3.1-r0", "1.0_pre1", "1.0_beta1",
		"1.0_rc1", "1.0", "1.0a", "1.01", "1.0_git1~abc1-r0",
	},
}

// TestCompareVersionsOrder checks that CompareVersions is a total preorder on real versions:
// reflexive, antisymmetric and transitive.
func TestCompareVersionsOrder(t *testing.T) {
	for source, vs := range realVersions {
		t.Run(source, func(t *testing.T) {
			for _, a := range vs {
				if c := CompareVersions(source, a, a); c != 0 {
					t.Errorf("cmp(%q, %q) = %d", a, a, c)
				}
				for _, b := range vs {
					ab, ba := CompareVersions(source, a, b), CompareVersions(source, b, a)
					if ab != -ba || ab < -1 || ab > 1 {
						t.Errorf("cmp(%q, %q) = %d but cmp(%q, %q) = %d", a, b, ab, b, a, ba)
					}
					for _, c := range vs {
						bc, ac := CompareVersions(source, b, c), CompareVersions(source, a, c)
						if ab <= 0 && bc <= 0 && ac > 0 || ab == 0 && bc == 0 && ac != 0 {
							t.Errorf("%q, %q, %q: cmp gives %d, %d but %d", a, b, c, ab, bc, ac)
						}
					}
				}
			}
		})
	}
}

// sortedVersions returns vs ordered by CompareVersions: if the package manager agrees on
// every neighbouring pair, it agrees on the whole order.
func sortedVersions(source string, vs []string) []string {
	s := slices.Clone(vs)
	slices.SortStableFunc(s, func(a, b string) int { return CompareVersions(source, a, b) })
	return s
}

// neighbours returns the pairs of neighbouring versions in order, then the table's cases.
func neighbours(source string, cases []versionCase) []versionCase {
	s := sortedVersions(source, realVersions[source])
	var out []versionCase
	for i := 1; i < len(s); i++ {
		out = append(out, versionCase{name: "sorted", a: s[i-1], b: s[i], want: CompareVersions(source, s[i-1], s[i])})
	}
	return append(out, cases...)
}

// runCompareTool runs a shell loop that reads "a b" lines and prints -1, 0 or 1 for each.
func runCompareTool(t *testing.T, script string, cases []versionCase) []int {
	t.Helper()
	var in strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&in, "%s %s\n", c.a, c.b)
	}
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	var got []int
	for _, f := range strings.Fields(string(out)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%s: output %q", script, out)
		}
		got = append(got, max(-1, min(1, n)))
	}
	if len(got) != len(cases) {
		t.Fatalf("%s: %d answers for %d pairs", script, len(got), len(cases))
	}
	return got
}

func checkAgainstTool(t *testing.T, tool, source string, cases []versionCase, got []int) {
	t.Helper()
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s: %s %q vs %q: %s says %d, CompareVersions %d", c.name, source, c.a, c.b, tool, got[i], c.want)
		}
	}
}

func TestCompareVersionsAgainstDpkg(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg is not installed")
	}
	cases := neighbours("deb", debCases)
	got := runCompareTool(t, `while read a b; do
		if dpkg --compare-versions "$a" lt "$b"; then echo -1
		elif dpkg --compare-versions "$a" eq "$b"; then echo 0
		else echo 1; fi
	done`, cases)
	checkAgainstTool(t, "dpkg", "deb", cases, got)
}

func TestCompareVersionsAgainstPacman(t *testing.T) {
	if _, err := exec.LookPath("vercmp"); err != nil {
		t.Skip("pacman's vercmp is not installed")
	}
	cases := neighbours("pacman", pacmanCases)
	got := runCompareTool(t, `while read a b; do vercmp "$a" "$b"; done`, cases)
	checkAgainstTool(t, "vercmp", "pacman", cases, got)
}

// TestCompareVersionsAgainstRPM compares every pair of real versions and every case with
// rpm's rpm.vercmp, in one run of rpm's Lua interpreter.
func TestCompareVersionsAgainstRPM(t *testing.T) {
	if _, err := exec.LookPath("rpm"); err != nil {
		t.Skip("rpm is not installed")
	}
	out, err := exec.Command("rpm", "--eval", `%{lua: print(rpm.vercmp("1.0", "1.0"))}`).Output()
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Skipf("rpm has no Lua rpm.vercmp: %v %q", err, out)
	}
	cases := slices.Clone(rpmCases)
	for _, a := range realVersions["rpm"] {
		for _, b := range realVersions["rpm"] {
			cases = append(cases, versionCase{name: "pair", a: a, b: b, want: CompareVersions("rpm", a, b)})
		}
	}
	var lua strings.Builder
	lua.WriteString("%{lua: ")
	for _, c := range cases {
		fmt.Fprintf(&lua, "print(rpm.vercmp(%q, %q) .. \" \") ", c.a, c.b)
	}
	lua.WriteString("}")
	out, err = exec.Command("rpm", "--eval", lua.String()).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, f := range strings.Fields(string(out)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("rpm output %q", out)
		}
		got = append(got, n)
	}
	if len(got) != len(cases) {
		t.Fatalf("rpm gave %d answers for %d pairs", len(got), len(cases))
	}
	checkAgainstTool(t, "rpm", "rpm", cases, got)
}

func FuzzCompareVersions(f *testing.F) {
	for _, vs := range realVersions {
		for i := 1; i < len(vs); i++ {
			f.Add(vs[i-1], vs[i])
		}
	}
	for _, cs := range [][]versionCase{debCases, rpmCases, pacmanCases, apkCases} {
		for _, c := range cs {
			f.Add(c.a, c.b)
		}
	}
	sources := []string{"deb", "rpm", "apk", "pacman", "tgz"}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, s := range sources {
			if c := CompareVersions(s, a, a); c != 0 {
				t.Errorf("%s: cmp(%q, itself) = %d", s, a, c)
			}
			ab, ba := CompareVersions(s, a, b), CompareVersions(s, b, a)
			if ab != -ba || ab < -1 || ab > 1 {
				t.Errorf("%s: cmp(%q, %q) = %d, cmp(%q, %q) = %d", s, a, b, ab, b, a, ba)
			}
		}
	})
}

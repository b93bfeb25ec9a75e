package api

import "testing"

// TestCSVCell checks each character OWASP lists as starting a formula, and cells that must
// stay as they are.
func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://x.example","x")`: `'=HYPERLINK("http://x.example","x")`,
		`+cmd|' /C calc'!A0`:                 `'+cmd|' /C calc'!A0`,
		"-1+2":                               "'-1+2",
		"@SUM(A1)":                           "'@SUM(A1)",
		"\t=1":                               "'\t=1",
		"\r=1":                               "'\r=1",
		"":                                   "",
		"nginx":                              "nginx",
		"a=b":                                "a=b",
		"2026-01-02T03:04:05Z":               "2026-01-02T03:04:05Z",
		"'quoted":                            "'quoted",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

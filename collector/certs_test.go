package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/pki"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.ParseCert(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func certsCmd(t *testing.T, want int, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(append([]string{"certs"}, args...), &out, &errOut); code != want {
		t.Fatalf("certs %q: exit %d, want %d; stdout: %s stderr: %s", args, code, want, out.String(), errOut.String())
	}
	return out.String() + errOut.String()
}

func TestCertsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	out := certsCmd(t, 0, "--out-dir", dir, "--host", "onus.example.com", "--host", "10.1.2.3,::1", "--client", "web-01",
		"--client", "db-01", "--etcd", "--validity", "30d")
	for _, f := range []string{"ca.pem", "ca-key.pem", "collector.pem", "collector-key.pem", "agent-web-01.pem", "agent-web-01-key.pem",
		"agent-db-01.pem", "agent-db-01-key.pem", "etcd-server.pem", "etcd-server-key.pem", "etcd-client.pem", "etcd-client-key.pem"} {
		p := filepath.Join(dir, f)
		if !strings.Contains(out, "wrote "+p) {
			t.Errorf("output does not name %s:\n%s", p, out)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if strings.HasSuffix(f, "-key.pem") {
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", f, fi.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 12 {
		t.Errorf("%d files in the directory, want 12", len(entries))
	}

	ca := readCert(t, filepath.Join(dir, "ca.pem"))
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 || ca.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("CA: IsCA %v, key usage %v, algorithm %v", ca.IsCA, ca.KeyUsage, ca.PublicKeyAlgorithm)
	}
	if d := time.Until(ca.NotAfter); d < 3649*24*time.Hour || d > 3651*24*time.Hour {
		t.Errorf("CA valid for %s, want 10 years", d)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	verify := func(file, dnsName string, usage x509.ExtKeyUsage) error {
		_, err := readCert(t, filepath.Join(dir, file)).Verify(x509.VerifyOptions{Roots: roots, DNSName: dnsName, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
	server, client := x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth
	for _, tc := range []struct {
		file, name string
		usage      x509.ExtKeyUsage
		ok         bool
	}{
		{"collector.pem", "onus.example.com", server, true},
		{"collector.pem", "10.1.2.3", server, true},
		{"collector.pem", "::1", server, true},
		{"collector.pem", "localhost", server, false}, // --host replaces the defaults
		{"collector.pem", "", client, false},
		{"agent-web-01.pem", "", client, true},
		{"agent-web-01.pem", "", server, false},
		{"agent-db-01.pem", "", client, true},
		{"etcd-server.pem", "localhost", server, true},
		{"etcd-server.pem", "127.0.0.1", server, true},
		{"etcd-server.pem", "", client, true}, // members dial each other with it
		{"etcd-client.pem", "", client, true},
		{"etcd-client.pem", "", server, false},
	} {
		if err := verify(tc.file, tc.name, tc.usage); (err == nil) != tc.ok {
			t.Errorf("%s for %q, usage %v: %v, want ok=%v", tc.file, tc.name, tc.usage, err, tc.ok)
		}
	}
	if c := readCert(t, filepath.Join(dir, "agent-web-01.pem")); c.Subject.CommonName != "web-01" || len(c.DNSNames)+len(c.IPAddresses) != 0 {
		t.Errorf("agent certificate: %s, SANs %v %v", c.Subject, c.DNSNames, c.IPAddresses)
	}
	col := readCert(t, filepath.Join(dir, "collector.pem"))
	if !slices.Equal(col.DNSNames, []string{"onus.example.com"}) || len(col.IPAddresses) != 2 || !col.IPAddresses[0].Equal(net.ParseIP("10.1.2.3")) {
		t.Errorf("collector SANs: %v %v", col.DNSNames, col.IPAddresses)
	}
	if d := time.Until(col.NotAfter); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("collector certificate valid for %s, want 30 days", d)
	}
	for _, base := range []string{"collector", "agent-web-01", "etcd-server", "etcd-client"} {
		if _, err := tls.LoadX509KeyPair(filepath.Join(dir, base+".pem"), filepath.Join(dir, base+"-key.pem")); err != nil {
			t.Errorf("%s: %v", base, err)
		}
	}

	// Existing files are kept: nothing is written, and the error names the file and --force.
	before, _ := os.ReadFile(filepath.Join(dir, "collector.pem"))
	out = certsCmd(t, 1, "--out-dir", dir, "--host", "other.example.com", "--client", "web-02")
	if !strings.Contains(out, "collector.pem already exists") || !strings.Contains(out, "--force") {
		t.Errorf("refusal: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "agent-web-02.pem")); err == nil {
		t.Error("a refused run wrote a new client certificate")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "collector.pem")); !bytes.Equal(before, after) {
		t.Error("a refused run changed collector.pem")
	}

	// Later, one more agent: the CA is reused and nothing else touched.
	caBefore, _ := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	out = certsCmd(t, 0, "--out-dir", dir, "--collector-cert=false", "--client", "web-02")
	if !strings.Contains(out, "using the CA in") || strings.Contains(out, "collector.pem") {
		t.Errorf("second run: %s", out)
	}
	if err := verify("agent-web-02.pem", "", client); err != nil {
		t.Errorf("a client certificate issued later does not chain to the first CA: %v", err)
	}
	if caAfter, _ := os.ReadFile(filepath.Join(dir, "ca-key.pem")); !bytes.Equal(caBefore, caAfter) {
		t.Error("the CA key changed")
	}

	// --force replaces the server certificate, still under the same CA.
	certsCmd(t, 0, "--out-dir", dir, "--host", "new.example.com", "--force")
	if err := verify("collector.pem", "new.example.com", server); err != nil {
		t.Errorf("forced collector certificate: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "collector.pem")); bytes.Equal(before, after) {
		t.Error("--force did not replace collector.pem")
	}
}

func TestCertsCommandRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	halfCA := filepath.Join(t.TempDir(), "half")
	os.MkdirAll(halfCA, 0o700)
	os.WriteFile(filepath.Join(halfCA, "ca.pem"), []byte("x"), 0o644)
	badCA := filepath.Join(t.TempDir(), "bad")
	os.MkdirAll(badCA, 0o700)
	os.WriteFile(filepath.Join(badCA, "ca.pem"), []byte("not a certificate"), 0o644)
	os.WriteFile(filepath.Join(badCA, "ca-key.pem"), []byte("not a key"), 0o600)
	for _, tc := range []struct {
		name string
		code int
		args []string
		want string
	}{
		{"bad host", 2, []string{"--host", "not a host"}, "neither a DNS name nor an IP"},
		{"bad client name", 2, []string{"--client", "../evil"}, "--client"},
		{"client twice", 2, []string{"--client", "a", "--client", "a"}, "given twice"},
		{"nothing to do", 2, []string{"--collector-cert=false"}, "nothing to issue"},
		{"bad validity", 2, []string{"--validity", "0d"}, "positive duration"},
		{"stray argument", 2, []string{"extra"}, "unexpected argument"},
		{"CA without its key", 1, []string{"--out-dir", halfCA}, "go together"},
		{"broken CA", 1, []string{"--out-dir", badCA}, "CA certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--out-dir", dir}, tc.args...)
			if out := certsCmd(t, tc.code, args...); !strings.Contains(out, tc.want) {
				t.Errorf("output %q does not mention %q", out, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused runs wrote %d files", len(entries))
	}
}

// TestTLSDocFlags checks that every onus-collector command line in docs/tls.md uses flags the
// command has.
func TestTLSDocFlags(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "tls.md"))
	if err != nil {
		t.Fatal(err)
	}
	flagRE := regexp.MustCompile(`(?:^|\s)--?([a-z][a-z0-9-]*)`)
	known := map[string]map[string]bool{}
	flagsOf := func(cmd string) map[string]bool {
		if f, ok := known[cmd]; ok {
			return f
		}
		var out bytes.Buffer
		run([]string{cmd, "-h"}, &out, &out)
		f := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`).FindAllStringSubmatch(out.String(), -1) {
			f[m[1]] = true
		}
		if len(f) == 0 {
			t.Fatalf("onus-collector %s -h shows no flags:\n%s", cmd, out.String())
		}
		known[cmd] = f
		return f
	}
	checked := 0
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "onus-collector ") {
			continue
		}
		fields := strings.Fields(line)
		cmd := fields[1]
		flags := flagsOf(cmd)
		for _, m := range flagRE.FindAllStringSubmatch(strings.Join(fields[2:], " "), -1) {
			checked++
			if !flags[m[1]] {
				t.Errorf("docs/tls.md: onus-collector %s has no flag --%s: %s", cmd, m[1], line)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d flags in docs/tls.md", checked)
	}
}

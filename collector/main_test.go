package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServeRefusesBadSettings(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	short := filepath.Join(dir, "short")
	os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	os.WriteFile(short, []byte("abc"), 0o600)
	badCfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badCfg, []byte("listen_adress: 127.0.0.1:1\n"), 0o600)
	base := []string{"--data-dir", dir, "--enroll-secret-file", secret, "--admin-token-file", secret}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"plain HTTP without the flag", base, "--insecure-http"},
		{"no enroll secret", []string{"--insecure-http", "--admin-token-file", secret}, "--enroll-secret-file is required"},
		{"short secret", []string{"--insecure-http", "--enroll-secret-file", short, "--admin-token-file", secret}, "at least 16"},
		{"unknown config key", append([]string{"--config", badCfg}, base...), "listen_adress"},
		{"cert without key", append([]string{"--tls-cert-file", secret}, base...), "go together"},
		{"bad client auth", append([]string{"--insecure-http", "--tls-client-auth", "maybe"}, base...), "verify-if-given"},
		{"client CA over plain HTTP", append([]string{"--insecure-http", "--tls-client-auth", "require", "--tls-client-ca-file", secret}, base...), "needs TLS"},
		{"bad log level", append([]string{"--insecure-http", "--log-level", "loud"}, base...), "--log-level"},
		{"stray argument", append(base, "extra"), "unexpected argument"},
		{"negative quota", append([]string{"--insecure-http", "--etcd-quota-bytes", "-1"}, base...), "cannot be negative"},
		{"negative store timeout", append([]string{"--insecure-http", "--store-timeout", "-1s"}, base...), "cannot be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(append([]string{"serve"}, tc.args...), &bytes.Buffer{}, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q does not mention %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestConfigFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfgFile, []byte("listen_address: 0.0.0.0:9000\ndata_dir: /srv/onus\nlog_level: debug\netcd_endpoints: [https://e1:2379]\n"+
		"tls_client_ca_file: /etc/onus/ca.pem\ntls_client_auth: require\netcd_quota_bytes: 8589934592\nstore_timeout: 2s\n"), 0o600)
	var c config
	if err := loadConfig(cfgFile, &c); err != nil {
		t.Fatal(err)
	}
	if c.EtcdQuotaBytes != 8<<30 || c.StoreTimeout != 2*time.Second {
		t.Fatalf("store settings from the file: %+v", c)
	}
	parse := func(flags ...string) config {
		t.Helper()
		got, _, err := serveCommand.Parse(append([]string{"--config", cfgFile}, flags...), io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", flags, err)
		}
		return *got
	}
	if q := parse("--etcd-quota-bytes", "1073741824"); q.EtcdQuotaBytes != 1<<30 || q.StoreTimeout != 2*time.Second {
		t.Fatalf("--etcd-quota-bytes over the file: %+v", q)
	}
	if c.TLSClientCAFile != "/etc/onus/ca.pem" || c.TLSClientAuth != "require" {
		t.Fatalf("TLS client settings from the file: %+v", c)
	}
	if tls := parse("--tls-client-auth", "verify-if-given"); tls.TLSClientAuth != "verify-if-given" || tls.TLSClientCAFile != "/etc/onus/ca.pem" {
		t.Fatalf("--tls-client-auth over the file: %+v", tls)
	}
	if tls := parse("--tls-client-ca-file", "/other/ca.pem"); tls.TLSClientCAFile != "/other/ca.pem" || tls.TLSClientAuth != "require" {
		t.Fatalf("--tls-client-ca-file over the file: %+v", tls)
	}
	got := parse("--listen-address", "127.0.0.1:1")
	if got.ListenAddress != "127.0.0.1:1" || got.DataDir != "/srv/onus" || got.LogLevel != "debug" || len(got.EtcdEndpoints) != 1 {
		t.Fatalf("merged config: %+v", got)
	}
	if e := parse("--etcd-endpoints", "https://a:2379,https://b:2379").EtcdEndpoints; len(e) != 2 || e[1] != "https://b:2379" {
		t.Fatalf("--etcd-endpoints over the file: %q", e)
	}
}

func TestDaysFlag(t *testing.T) {
	var d time.Duration
	v := days{&d}
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"7d", 7 * 24 * time.Hour}, {"36h", 36 * time.Hour}, {"90m", 90 * time.Minute}} {
		if err := v.Set(tc.in); err != nil || d != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.in, d, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0d", "-1h", "soon"} {
		if err := v.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	d = 14 * 24 * time.Hour
	if v.String() != "14d" {
		t.Errorf("String: %s", v.String())
	}
}

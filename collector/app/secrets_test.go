package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/bg"
	"github.com/onus-project/onus/internal/testutil/fixture"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// startWithSecretsFile runs a collector whose only enroll secrets are those of file.
func startWithSecretsFile(t *testing.T, file string, check time.Duration) (url string, reg *prometheus.Registry) {
	t.Helper()
	reg = prometheus.NewRegistry()
	c, err := New(Options{ListenAddress: "127.0.0.1:0", InsecureHTTP: true, DataDir: t.TempDir(), EnrollSecretFile: file,
		EnrollSecretCheckInterval: check, AdminToken: admin, Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	bg.Go(t, "collector", c.Run).Wait(c.Ready(), 30*time.Second)
	return "http://" + c.Addr(), reg
}

// tryEnroll enrolls hostID with secret and returns the status, the credential and the error
// message.
func tryEnroll(t *testing.T, url, hostID, secret string) (int, string, string) {
	t.Helper()
	body := marshal(t, protocol.EnrollRequest{EnrollSecret: secret, HostID: hostID})
	var resp protocol.EnrollResponse
	if code := call(t, "POST", url+protocol.PathEnroll, "", body, true, &resp); code < 300 {
		return code, resp.Credential, ""
	}
	var e protocol.ErrorResponse
	code := call(t, "POST", url+protocol.PathEnroll, "", body, true, &e)
	return code, "", e.Error
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const (
	oldSecret = "old-enroll-secret-0123456789abcdef"
	newSecret = "new-enroll-secret-0123456789abcdef"
	extra     = "third-enroll-secret-0123456789abc"
)

// TestEnrollSecretRotation rolls a new enroll secret out and the old one back in through the
// secrets file, without a restart: both are accepted while the file holds both, the removed
// one is then refused with 401, enrolled hosts keep reporting, and a bad file changes nothing.
func TestEnrollSecretRotation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "enroll-secret")
	writeFile(t, file, "# the fleet's enroll secrets\n"+oldSecret+"\n\n  "+newSecret+"  \n")
	url, reg := startWithSecretsFile(t, file, 50*time.Millisecond)
	inv := fixture.Golden(t, "debian12")

	code, cred, msg := tryEnroll(t, url, inv.Host.ID, oldSecret)
	if code != 200 {
		t.Fatalf("enroll with the old secret: %d %s", code, msg)
	}
	if code, _, msg := tryEnroll(t, url, "second-host", newSecret); code != 200 {
		t.Fatalf("enroll with the new secret: %d %s", code, msg)
	}
	full, _ := fullReport(inv, 1)
	report(t, url, cred, full)

	// The old secret is retired: rewritten in place, the file takes effect at the next check.
	writeFile(t, file, newSecret+"\n# "+oldSecret+" retired\n")
	// Each probe is a host ID of its own: one enrolled already would need its credential.
	probes := 0
	wait.Until(t, 10*time.Second, "the old secret refused", func() bool {
		probes++
		code, _, _ := tryEnroll(t, url, fmt.Sprintf("probe-%d", probes), oldSecret)
		return code == 401
	})
	_, _, msg = tryEnroll(t, url, "third-host", oldSecret)
	if !strings.Contains(msg, "wrong enroll secret") {
		t.Errorf("refusal message %q", msg)
	}
	if code, _, msg := tryEnroll(t, url, "third-host", newSecret); code != 200 {
		t.Fatalf("enroll with the new secret after rotation: %d %s", code, msg)
	}
	// A host enrolled with the retired secret keeps its credential.
	hb := &protocol.Report{HostID: inv.Host.ID, Seq: 2, Kind: protocol.KindHeartbeat, SentAt: time.Now().UTC(), BaseHash: full.Hash, Hash: full.Hash, Capacity: full.Capacity}
	if r := report(t, url, cred, hb); r.Status != protocol.StatusAccepted {
		t.Fatalf("heartbeat of a host enrolled with the retired secret: %+v", r)
	}
	if got := gauge(t, reg, "onus_collector_enroll_secrets"); got != 1 {
		t.Errorf("onus_collector_enroll_secrets = %v, want 1", got)
	}

	// Bad files keep the previous secrets, and say so in the reload metric.
	for name, content := range map[string]string{"empty": "", "comments only": "# nothing\n\n", "too short": "short\n"} {
		writeFile(t, file, content)
		wait.Until(t, 10*time.Second, name+" file refused", func() bool {
			return gauge(t, reg, "onus_collector_enroll_secrets_reload_success") == 0
		})
		if code, _, msg := tryEnroll(t, url, "fourth-host-"+strings.ReplaceAll(name, " ", "-"), newSecret); code != 200 {
			t.Fatalf("%s file: enroll with the secret in effect: %d %s", name, code, msg)
		}
		writeFile(t, file, newSecret+"\n"+extra+"\n")
		wait.Until(t, 10*time.Second, "a good file after the "+name+" one", func() bool {
			return gauge(t, reg, "onus_collector_enroll_secrets_reload_success") == 1 && gauge(t, reg, "onus_collector_enroll_secrets") == 2
		})
	}
	if code, _, msg := tryEnroll(t, url, "fifth-host", extra); code != 200 {
		t.Fatalf("enroll with the added secret: %d %s", code, msg)
	}
}

// TestEnrollSecretSIGHUP: with a check interval too long to matter, SIGHUP reloads.
func TestEnrollSecretSIGHUP(t *testing.T) {
	file := filepath.Join(t.TempDir(), "enroll-secret")
	writeFile(t, file, oldSecret+"\n")
	url, _ := startWithSecretsFile(t, file, time.Hour)
	if code, _, msg := tryEnroll(t, url, "host-a", newSecret); code != 401 {
		t.Fatalf("enroll with a secret not in the file yet: %d %s", code, msg)
	}
	writeFile(t, file, newSecret+"\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "the new secret accepted after SIGHUP", func() bool {
		code, _, _ := tryEnroll(t, url, "host-a", newSecret)
		return code == 200
	})
	if code, _, _ := tryEnroll(t, url, "host-b", oldSecret); code != 401 {
		t.Fatalf("the removed secret after SIGHUP: %d", code)
	}
}

func TestEnrollSecretFileRefused(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ content, want string }{
		"empty":     {"", "no enroll secret"},
		"short":     {"# c\n" + oldSecret + "\nabc\n", "line 3 holds 3 characters"},
		"two words": {oldSecret + " " + newSecret + "\n", "line 1: a secret cannot contain spaces"},
	} {
		file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		writeFile(t, file, tc.content)
		_, err := New(Options{ListenAddress: "127.0.0.1:0", InsecureHTTP: true, DataDir: dir, EnrollSecretFile: file, AdminToken: admin})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: %v, want an error naming %s and %q", name, err, file, tc.want)
		}
	}
	if _, err := New(Options{ListenAddress: "127.0.0.1:0", InsecureHTTP: true, DataDir: dir, EnrollSecretFile: filepath.Join(dir, "none"), AdminToken: admin}); err == nil {
		t.Error("a missing secrets file accepted")
	}
}

// gauge returns the value of the gauge name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

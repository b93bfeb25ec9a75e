package kubernetes

import (
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

var certsCmd = regexp.MustCompile(`(?m)^onus-collector certs (.*)$`)

// shellWords splits a command line as sh would for what README.md uses: words, and single
// quotes around a word.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	for _, w := range strings.Fields(s) {
		if strings.HasPrefix(w, "'") {
			if !strings.HasSuffix(w, "'") || len(w) < 2 {
				t.Fatalf("README.md: cannot split %q", s)
			}
			w = w[1 : len(w)-1]
		}
		if strings.ContainsAny(w, `"$'\`) {
			t.Fatalf("README.md: %q in %q needs a shell; keep the certs command plain", w, s)
		}
		out = append(out, w)
	}
	return out
}

// TestCertificateNames runs the certs command of README.md with the real collector and
// verifies the certificates it makes against every name the manifests connect to.
func TestCertificateNames(t *testing.T) {
	b := manifests(t)
	m := certsCmd.FindStringSubmatch(readme(t))
	if m == nil {
		t.Fatal("README.md has no onus-collector certs command")
	}
	args := shellWords(t, m[1])
	dir := t.TempDir()
	i := slices.Index(args, "--out-dir")
	if i < 0 || i+1 >= len(args) {
		t.Fatal("README.md's certs command has no --out-dir DIR")
	}
	args[i+1] = dir
	if _, err := runCmd(filepath.Join(binaries(t), "onus-collector"), append([]string{"certs"}, args...)...); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(dir, "ca.pem")))

	// The collector, by the names agents, the owners Job and Prometheus use.
	var collectorNames []string
	agentCfg := get[*corev1.ConfigMap](t, b, "onus-agent")
	var cfg agentConfig
	if err := sigsyaml.Unmarshal([]byte(agentCfg.Data["agent.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	collectorNames = append(collectorNames, hostOf(t, cfg.CollectorURL))
	job := get[*batchv1.Job](t, b, "onus-owners-apply")
	for _, a := range job.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--server="); ok {
			collectorNames = append(collectorNames, hostOf(t, v))
		}
	}
	for _, ep := range get[*monitoringv1.ServiceMonitor](t, b, "onus-collector").Spec.Endpoints {
		if ep.TLSConfig != nil && ep.TLSConfig.ServerName != nil {
			collectorNames = append(collectorNames, *ep.TLSConfig.ServerName)
		}
	}
	if len(collectorNames) < 3 {
		t.Fatalf("found only %v as names of the collector", collectorNames)
	}
	verify(t, filepath.Join(dir, "collector.pem"), roots, x509.ExtKeyUsageServerAuth, collectorNames)

	// etcd, by the names the collector dials and the members advertise to each other.
	var etcdNames []string
	d := get[*appsv1.Deployment](t, b, "onus-collector")
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--etcd-endpoints="); ok {
			for _, e := range strings.Split(v, ",") {
				etcdNames = append(etcdNames, hostOf(t, e))
			}
		}
	}
	sts := get[*appsv1.StatefulSet](t, b, "onus-etcd")
	c := &sts.Spec.Template.Spec.Containers[0]
	for i := range int(*sts.Spec.Replicas) {
		member := sts.Name + "-" + strconv.Itoa(i)
		cfg, err := etcdConfig(expand(t, c, c.Args, map[string]string{"metadata.name": member, "metadata.namespace": Namespace}))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range slices.Concat(cfg.AdvertiseClientUrls, cfg.AdvertisePeerUrls) {
			etcdNames = append(etcdNames, u.Hostname())
		}
	}
	verify(t, filepath.Join(dir, "etcd-server.pem"), roots, x509.ExtKeyUsageServerAuth, etcdNames)
	// Members dial each other with their server certificate, so it is a client one too.
	verify(t, filepath.Join(dir, "etcd-server.pem"), roots, x509.ExtKeyUsageClientAuth, nil)
	verify(t, filepath.Join(dir, "etcd-client.pem"), roots, x509.ExtKeyUsageClientAuth, nil)
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		t.Fatalf("%q is no URL with a host", raw)
	}
	return u.Hostname()
}

func readCert(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatalf("%s holds no PEM block", p)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// verify checks the certificate at p against roots for usage and each of names (or no
// name).
func verify(t *testing.T, p string, roots *x509.CertPool, usage x509.ExtKeyUsage, names []string) {
	t.Helper()
	cert := readCert(t, p)
	if len(names) == 0 {
		names = []string{""}
	}
	for _, n := range names {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: n, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s for %q: %v", filepath.Base(p), n, err)
		}
	}
}

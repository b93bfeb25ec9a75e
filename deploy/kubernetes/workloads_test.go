package kubernetes

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.etcd.io/etcd/pkg/v3/flags"
	"go.etcd.io/etcd/server/v3/embed"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/onus-project/onus/internal/owners"
)

// agentConfig is the YAML the agent reads with --config; the test checks the file paths in
// it against the pod's mounts (the agent itself checks the keys, see TestAgentDaemonSet).
type agentConfig struct {
	CollectorURL     string `json:"collector_url"`
	CAFile           string `json:"ca_file"`
	EnrollSecretFile string `json:"enroll_secret_file"`
	StateDir         string `json:"state_dir"`
}

func TestAgentDaemonSet(t *testing.T) {
	b := manifests(t)
	ds := get[*appsv1.DaemonSet](t, b, "onus-agent")
	pod := &ds.Spec.Template
	spec := &pod.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("want one container, have %d", len(spec.Containers))
	}
	c := &spec.Containers[0]

	if !spec.HostPID {
		t.Error("hostPID is off: listening sockets could not be mapped to the host's processes")
	}
	if !spec.HostNetwork {
		t.Error("hostNetwork is off: the agent would report the pod's network, not the node's")
	}
	if spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("dnsPolicy %q: with hostNetwork only ClusterFirstWithHostNet resolves the collector Service", spec.DNSPolicy)
	}
	everywhere := slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Key == "" && tl.Operator == corev1.TolerationOpExists && tl.Effect == ""
	})
	if !everywhere {
		t.Errorf("tolerations %v do not tolerate every taint (control plane included)", spec.Tolerations)
	}

	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("no capabilities in the container's securityContext")
	}
	add := slices.Clone(sc.Capabilities.Add)
	slices.Sort(add)
	if !slices.Equal(add, []corev1.Capability{"DAC_READ_SEARCH", "SYS_PTRACE"}) {
		t.Errorf("capabilities add %v, want exactly DAC_READ_SEARCH and SYS_PTRACE", sc.Capabilities.Add)
	}
	if psc := spec.SecurityContext; psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 0 {
		t.Error("the agent runs as root: added capabilities are not effective for other users")
	}

	bin := filepath.Join(binaries(t), "onus-agent")
	if len(c.Args) == 0 || c.Args[0] != "run" || filepath.Base(c.Command[0]) != "onus-agent" {
		t.Fatalf("command %v args %v, want onus-agent run ...", c.Command, c.Args)
	}
	args := expand(t, c, c.Args[1:], map[string]string{"status.hostIP": "127.0.0.1"})
	vals, err := parseArgs(args, flagsOf(t, bin, "run"))
	if err != nil {
		t.Fatalf("onus-agent run %v: %v", args, err)
	}

	// The host's root: read-only, and seeing mounts the host makes later.
	root := vals["host-root"]
	if root == "" || root == "/" {
		t.Fatalf("--host-root %q: want the host's root mounted apart, e.g. /host", root)
	}
	var rootMount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == path.Clean(root) {
			rootMount = &c.VolumeMounts[i]
		}
	}
	if rootMount == nil {
		t.Fatalf("nothing is mounted at --host-root %s", root)
	}
	if kind, p, _ := mounted(pod, c, root); kind != "HostPath" || p != "/" {
		t.Errorf("%s is %s %q, want the hostPath /", root, kind, p)
	}
	if !rootMount.ReadOnly {
		t.Errorf("the host root at %s is writable", root)
	}
	if rootMount.MountPropagation == nil || *rootMount.MountPropagation != corev1.MountPropagationHostToContainer {
		t.Errorf("the host root's mountPropagation is %v, want HostToContainer", rootMount.MountPropagation)
	}
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(path.Clean(m.MountPath)+"/", path.Clean(root)+"/") && !m.ReadOnly {
			t.Errorf("%s, under the host root, is writable", m.MountPath)
		}
	}

	// The system bus, where agent/source/systemd dials it: under the host root.
	bus := path.Join(root, "run/dbus/system_bus_socket")
	if kind, p, rel := mounted(pod, c, bus); kind != "HostPath" || path.Join(p, rel) != "/run/dbus/system_bus_socket" {
		t.Errorf("%s comes from %s %q %q, want the host's /run/dbus/system_bus_socket", bus, kind, p, rel)
	}

	// The configuration: a real file of a ConfigMap, accepted by the real agent.
	kind, name, key := mounted(pod, c, vals["config"])
	if kind != "ConfigMap" {
		t.Fatalf("--config %s comes from %q, want a ConfigMap", vals["config"], kind)
	}
	cm := get[*corev1.ConfigMap](t, b, name)
	text, ok := cm.Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s (--config %s)", name, key, vals["config"])
	}
	var cfg agentConfig
	// Unknown keys are left alone here: the real agent checks them all below.
	if err := sigsyaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("ConfigMap %s %s: %v", name, key, err)
	}
	for flagName, file := range map[string]string{"--ca-file": cfg.CAFile, "--enroll-secret-file": cfg.EnrollSecretFile} {
		if file == "" {
			t.Errorf("the agent's configuration sets no %s", flagName)
			continue
		}
		if kind, _, _ := mounted(pod, c, file); kind != "Secret" && kind != "ConfigMap" {
			t.Errorf("%s %s is not in a mounted Secret or ConfigMap", flagName, file)
		}
	}
	if kind, _, _ := mounted(pod, c, cfg.EnrollSecretFile); kind != "Secret" {
		t.Errorf("the enroll secret %s does not come from a Secret", cfg.EnrollSecretFile)
	}
	if kind, p, _ := mounted(pod, c, cfg.StateDir); kind != "HostPath" || p != cfg.StateDir {
		t.Errorf("state_dir %s is %s %q, want the host's %s (credential and journal survive the pod)", cfg.StateDir, kind, p, cfg.StateDir)
	}
	u, err := url.Parse(cfg.CollectorURL)
	if err != nil || u.Scheme != "https" {
		t.Errorf("collector_url %q: want https", cfg.CollectorURL)
	} else {
		checkCollectorURL(t, b, u)
	}
	if port := vals["metrics-address"]; port != "" {
		_, p, err := net.SplitHostPort(port)
		n, _ := strconv.Atoi(p)
		if cp := containerPort(pod, "metrics"); err != nil || cp == nil || int(cp.ContainerPort) != n {
			t.Errorf("--metrics-address %s: want the container port named metrics on that port", port)
		}
	}

	// The real agent accepts the flags and the configuration file and stops where the pod
	// differs from this machine: the enroll secret's file.
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	run := slices.Clone(args)
	for i, a := range run {
		if v, ok := strings.CutPrefix(a, "--config="); ok && v == vals["config"] {
			run[i] = "--config=" + cfgFile
		}
	}
	if slices.Equal(run, args) {
		t.Fatal("could not point --config at the test's copy; write it as --config=FILE")
	}
	runFails(t, bin, append([]string{"run"}, run...), cfg.EnrollSecretFile, cfg.CAFile)
}

// checkCollectorURL wants u to name the collector Service in its namespace on its HTTPS port.
func checkCollectorURL(t *testing.T, b *bundle, u *url.URL) {
	t.Helper()
	svc := get[*corev1.Service](t, b, "onus-collector")
	if host := u.Hostname(); host != svc.Name+"."+Namespace+".svc" {
		t.Errorf("collector URL %s: want the host %s.%s.svc (the name the collector's certificate must carry)", u, svc.Name, Namespace)
	}
	port := 443
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port }) {
		t.Errorf("collector URL %s: the Service has no port %d", u, port)
	}
}

func TestCollectorDeployment(t *testing.T) {
	b := manifests(t)
	d := get[*appsv1.Deployment](t, b, "onus-collector")
	pod := &d.Spec.Template
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	c := &pod.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "serve" || filepath.Base(c.Command[0]) != "onus-collector" {
		t.Fatalf("command %v args %v, want onus-collector serve ...", c.Command, c.Args)
	}
	bin := filepath.Join(binaries(t), "onus-collector")
	args := expand(t, c, c.Args[1:], nil)
	vals, err := parseArgs(args, flagsOf(t, bin, "serve"))
	if err != nil {
		t.Fatalf("onus-collector serve %v: %v", args, err)
	}
	for name, v := range vals {
		if !isFileFlag(name) {
			continue
		}
		if kind, _, _ := mounted(pod, c, v); kind != "Secret" {
			t.Errorf("--%s %s does not come from a Secret", name, v)
		}
	}
	for _, f := range []string{"tls-cert-file", "tls-key-file", "enroll-secret-file", "admin-token-file", "etcd-endpoints"} {
		if vals[f] == "" {
			t.Errorf("--%s is not given", f)
		}
	}
	if vals["insecure-http"] == "true" {
		t.Error("--insecure-http: the collector serves TLS in the cluster")
	}

	// The listener: the container port, probed over HTTPS, behind the Service.
	_, lport, err := net.SplitHostPort(vals["listen-address"])
	if err != nil {
		t.Fatalf("--listen-address %q: %v", vals["listen-address"], err)
	}
	var cp *corev1.ContainerPort
	for i := range c.Ports {
		if strconv.Itoa(int(c.Ports[i].ContainerPort)) == lport {
			cp = &c.Ports[i]
		}
	}
	if cp == nil || cp.Name == "" {
		t.Fatalf("no named container port for --listen-address %s", vals["listen-address"])
	}
	for _, p := range []struct {
		probe *corev1.Probe
		what  string
		path  string
	}{{c.ReadinessProbe, "readinessProbe", "/readyz"}, {c.LivenessProbe, "livenessProbe", "/healthz"}} {
		g := p.probe.HTTPGet
		if g == nil || g.Path != p.path || g.Port.String() != cp.Name || g.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("%s %+v, want GET %s on port %s over HTTPS", p.what, g, p.path, cp.Name)
		}
	}
	svc := get[*corev1.Service](t, b, "onus-collector")
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.String() != cp.Name {
		t.Errorf("Service ports %+v, want 443 to %s (API, reports and /metrics share one listener)", svc.Spec.Ports, cp.Name)
	}

	// External etcd: every member of the StatefulSet, by its stable name, over TLS.
	sts := get[*appsv1.StatefulSet](t, b, "onus-etcd")
	var want []string
	for i := range int(*sts.Spec.Replicas) {
		want = append(want, fmt.Sprintf("https://%s-%d.%s:%d", sts.Name, i, sts.Spec.ServiceName, etcdPort(t, sts, "client")))
	}
	if got := strings.Split(vals["etcd-endpoints"], ","); !slices.Equal(got, want) {
		t.Errorf("--etcd-endpoints %v, want every member: %v", got, want)
	}
	for _, f := range []string{"etcd-ca-file", "etcd-cert-file", "etcd-key-file"} {
		if vals[f] == "" {
			t.Errorf("--%s is not given: the etcd cluster requires client certificates", f)
		}
	}

	// Spread, and a disruption budget that keeps a majority serving.
	keys := map[string]bool{}
	for _, tsc := range pod.Spec.TopologySpreadConstraints {
		keys[tsc.TopologyKey] = true
	}
	if !keys["kubernetes.io/hostname"] || !keys["topology.kubernetes.io/zone"] {
		t.Errorf("topologySpreadConstraints over %v, want nodes and zones", keys)
	}
	pdb := get[*policyv1.PodDisruptionBudget](t, b, "onus-collector")
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
	}

	// The real collector accepts the flags and stops at the first file the pod mounts.
	var files []string
	for name, v := range vals {
		if isFileFlag(name) {
			files = append(files, v)
		}
	}
	runFails(t, bin, append([]string{"serve"}, args...), files...)
}

func TestOwnersJob(t *testing.T) {
	b := manifests(t)
	data, err := os.ReadFile(filepath.Join("..", OwnersFile))
	if err != nil {
		t.Fatal(err)
	}
	cm := get[*corev1.ConfigMap](t, b, "onus-owners")
	if cm.Data[OwnersKey] != string(data) {
		t.Errorf("ConfigMap onus-owners %s differs from deploy/%s; regenerate with: %s", OwnersKey, OwnersFile, RegenerateCommand)
	}
	reg, err := owners.Load(OwnersKey, []byte(cm.Data[OwnersKey]))
	if err != nil {
		t.Fatalf("ConfigMap onus-owners: %v", err)
	}
	if len(reg.Owners) == 0 || len(reg.Rules) == 0 {
		t.Errorf("ConfigMap onus-owners holds %d owners and %d rules", len(reg.Owners), len(reg.Rules))
	}

	job := get[*batchv1.Job](t, b, "onus-owners-apply")
	pod := &job.Spec.Template
	c := &pod.Spec.Containers[0]
	if len(c.Args) < 2 || c.Args[0] != "owners" || c.Args[1] != "apply" {
		t.Fatalf("args %v, want owners apply ...", c.Args)
	}
	bin := filepath.Join(binaries(t), "onus-collector")
	args := expand(t, c, c.Args[2:], nil)
	vals, err := parseArgs(args, flagsOf(t, bin, "owners", "apply"))
	if err != nil {
		t.Fatalf("onus-collector owners apply %v: %v", args, err)
	}
	if kind, name, key := mounted(pod, c, vals["f"]); kind != "ConfigMap" || name != cm.Name || key != OwnersKey {
		t.Errorf("-f %s is %s %s key %s, want ConfigMap %s key %s", vals["f"], kind, name, key, cm.Name, OwnersKey)
	}
	u, err := url.Parse(vals["server"])
	if err != nil || u.Scheme != "https" {
		t.Errorf("--server %q: want https", vals["server"])
	} else {
		checkCollectorURL(t, b, u)
	}
	// The token the collector checks, and the CA the agents trust.
	d := get[*appsv1.Deployment](t, b, "onus-collector")
	dc := &d.Spec.Template.Spec.Containers[0]
	dvals, err := parseArgs(expand(t, dc, dc.Args[1:], nil), flagsOf(t, bin, "serve"))
	if err != nil {
		t.Fatal(err)
	}
	wk, wn, wkey := mounted(&d.Spec.Template, dc, dvals["admin-token-file"])
	if k, n, key := mounted(pod, c, vals["token-file"]); k != wk || n != wn || key != wkey {
		t.Errorf("--token-file %s is %s %s key %s, want the collector's admin token, %s %s key %s", vals["token-file"], k, n, key, wk, wn, wkey)
	}
	if k, n, key := mounted(pod, c, vals["ca-file"]); k != "ConfigMap" || n != "onus-collector-ca" || key != "ca.crt" {
		t.Errorf("--ca-file %s is %s %s key %s, want ConfigMap onus-collector-ca key ca.crt", vals["ca-file"], k, n, key)
	}
	runFails(t, bin, append([]string{"owners", "apply"}, args...), vals["token-file"], vals["ca-file"], vals["f"])
}

// etcdPort returns the etcd container's port of that name.
func etcdPort(t *testing.T, sts *appsv1.StatefulSet, name string) int {
	t.Helper()
	p := containerPort(&sts.Spec.Template, name)
	if p == nil {
		t.Fatalf("StatefulSet %s has no container port %s", sts.Name, name)
	}
	return int(p.ContainerPort)
}

var modVersion = regexp.MustCompile(`(?m)^\s*go\.etcd\.io/etcd/server/v3 (v\S+)`)

func TestEtcdStatefulSet(t *testing.T) {
	b := manifests(t)
	sts := get[*appsv1.StatefulSet](t, b, "onus-etcd")
	pod := &sts.Spec.Template
	c := &pod.Spec.Containers[0]

	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := modVersion.FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod requires no go.etcd.io/etcd/server/v3")
	}
	if want := "quay.io/coreos/etcd:" + string(m[1]); c.Image != want {
		t.Errorf("image %s, want %s: the etcd release the collector is built and tested with (go.mod)", c.Image, want)
	}

	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", sts.Spec.Replicas)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Error("podManagementPolicy is not Parallel: the first member would wait for a quorum that the others never start to form")
	}
	svc := get[*corev1.Service](t, b, sts.Spec.ServiceName)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: want a headless Service that publishes members before they are ready", svc.Name)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("%d volumeClaimTemplates, want one per member", len(sts.Spec.VolumeClaimTemplates))
	}
	claim := sts.Spec.VolumeClaimTemplates[0]
	if claim.Spec.Resources.Requests.Storage().IsZero() {
		t.Error("the volume claim requests no storage")
	}
	aff := pod.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 ||
		aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" {
		t.Error("members may share a node: want a required pod anti-affinity on kubernetes.io/hostname")
	}

	// Each member's arguments, as etcd itself parses and validates them.
	replicas := int(*sts.Spec.Replicas)
	for i := range replicas {
		member := fmt.Sprintf("%s-%d", sts.Name, i)
		t.Run(member, func(t *testing.T) {
			args := expand(t, c, c.Args, map[string]string{"metadata.name": member, "metadata.namespace": Namespace})
			cfg, err := etcdConfig(args)
			if err != nil {
				t.Fatalf("etcd %v: %v", args, err)
			}
			if cfg.Name != member {
				t.Errorf("--name %s, want %s", cfg.Name, member)
			}
			peers, _, err := cfg.PeerURLsMapAndToken("etcd")
			if err != nil {
				t.Fatal(err)
			}
			if len(peers) != replicas {
				t.Errorf("--initial-cluster has %d members, the StatefulSet %d", len(peers), replicas)
			}
			host := func(name string) string { return fmt.Sprintf("%s.%s.%s.svc", name, sts.Spec.ServiceName, Namespace) }
			for j := range replicas {
				name := fmt.Sprintf("%s-%d", sts.Name, j)
				want := fmt.Sprintf("https://%s:%d", host(name), etcdPort(t, sts, "peer"))
				if got := peers[name].StringSlice(); !slices.Equal(got, []string{want}) {
					t.Errorf("--initial-cluster: %s at %v, want %s", name, got, want)
				}
			}
			if got := cfg.AdvertisePeerUrls; len(got) != 1 || !slices.Equal(peers[member].StringSlice(), []string{got[0].String()}) {
				t.Errorf("--initial-advertise-peer-urls %v differ from this member's entry in --initial-cluster", got)
			}
			want := fmt.Sprintf("https://%s:%d", host(member), etcdPort(t, sts, "client"))
			if got := cfg.AdvertiseClientUrls; len(got) != 1 || got[0].String() != want {
				t.Errorf("--advertise-client-urls %v, want %s", got, want)
			}
			for _, l := range []struct {
				urls   []url.URL
				port   string
				scheme string
			}{{cfg.ListenClientUrls, "client", "https"}, {cfg.ListenPeerUrls, "peer", "https"}, {cfg.ListenMetricsUrls, "metrics", "http"}} {
				if len(l.urls) != 1 || l.urls[0].Port() != strconv.Itoa(etcdPort(t, sts, l.port)) || l.urls[0].Scheme != l.scheme {
					t.Errorf("listen URLs %v, want %s on the container port %s", l.urls, l.scheme, l.port)
				}
			}
			if !cfg.ClientTLSInfo.ClientCertAuth || !cfg.PeerTLSInfo.ClientCertAuth {
				t.Error("want --client-cert-auth and --peer-client-cert-auth: etcd holds every credential hash")
			}
			for what, f := range map[string]string{"--trusted-ca-file": cfg.ClientTLSInfo.TrustedCAFile, "--cert-file": cfg.ClientTLSInfo.CertFile,
				"--key-file": cfg.ClientTLSInfo.KeyFile, "--peer-trusted-ca-file": cfg.PeerTLSInfo.TrustedCAFile,
				"--peer-cert-file": cfg.PeerTLSInfo.CertFile, "--peer-key-file": cfg.PeerTLSInfo.KeyFile} {
				if kind, _, key := mounted(pod, c, f); kind != "Secret" || key == "" {
					t.Errorf("%s %q is not a key of a mounted Secret", what, f)
				}
			}
			if kind, name, _ := mounted(pod, c, cfg.Dir); kind != "VolumeClaim" || name != claim.Name {
				t.Errorf("--data-dir %s is not on the member's volume %s", cfg.Dir, claim.Name)
			}
			if cfg.QuotaBackendBytes <= 0 || claim.Spec.Resources.Requests.Storage().Value() < 2*cfg.QuotaBackendBytes {
				t.Errorf("--quota-backend-bytes %d: want it set, and the volume (%s) at least twice as large", cfg.QuotaBackendBytes, claim.Spec.Resources.Requests.Storage())
			}
		})
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "metrics" || p.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			t.Errorf("probe %+v: want HTTP on the metrics listener (the client port requires client certificates)", p)
		}
	}
}

// etcdConfig parses etcd's command line as etcdmain does for the flags used here, and
// validates it.
func etcdConfig(args []string) (*embed.Config, error) {
	cfg := embed.NewConfig()
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	cfg.AddFlags(fs)
	state := fs.String("initial-cluster-state", embed.ClusterStateFlagNew, "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.ListenPeerUrls = flags.UniqueURLsFromFlag(fs, "listen-peer-urls")
	cfg.AdvertisePeerUrls = flags.UniqueURLsFromFlag(fs, "initial-advertise-peer-urls")
	cfg.ListenClientUrls = flags.UniqueURLsFromFlag(fs, "listen-client-urls")
	cfg.AdvertiseClientUrls = flags.UniqueURLsFromFlag(fs, "advertise-client-urls")
	cfg.ListenMetricsUrls = flags.UniqueURLsFromFlag(fs, "listen-metrics-urls")
	cfg.ClusterState = *state
	cfg.Logger = "zap"
	cfg.LogOutputs = []string{"/dev/null"}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// jobLabel finds job="..." matchers in the rules.
var jobMatcher = regexp.MustCompile(`job="([^"]+)"`)

func TestServiceMonitor(t *testing.T) {
	b := manifests(t)
	sm := get[*monitoringv1.ServiceMonitor](t, b, "onus-collector")
	svc := get[*corev1.Service](t, b, "onus-collector")
	if !selects(t, &sm.Spec.Selector, svc.Labels) {
		t.Fatalf("ServiceMonitor selector %v does not select Service %s (labels %v)", sm.Spec.Selector.MatchLabels, svc.Name, svc.Labels)
	}
	if ns := sm.Spec.NamespaceSelector; !ns.Any && !slices.Contains(ns.MatchNames, Namespace) {
		t.Errorf("namespaceSelector %+v leaves out %s", ns, Namespace)
	}
	// The rules name the collector's job; the operator names it after the Service unless
	// jobLabel says otherwise.
	job := svc.Name
	if sm.Spec.JobLabel != "" {
		job = svc.Labels[sm.Spec.JobLabel]
	}
	rules, err := os.ReadFile(filepath.Join("..", RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range jobMatcher.FindAllStringSubmatch(string(rules), -1) {
		if m[1] != job {
			t.Errorf("the rules use %s, the ServiceMonitor makes job=%q", m[0], job)
		}
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("%d endpoints, want 1", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
		t.Errorf("endpoint port %q is no port of Service %s", ep.Port, svc.Name)
	}
	if ep.Scheme == nil || strings.ToLower(string(*ep.Scheme)) != "https" || ep.TLSConfig == nil {
		t.Fatal("the collector serves /metrics over TLS: want scheme HTTPS and a tlsConfig")
	}
	if ca := ep.TLSConfig.CA.ConfigMap; ca == nil || ca.Name != "onus-collector-ca" || ca.Key != "ca.crt" {
		t.Errorf("tlsConfig ca %+v, want ConfigMap onus-collector-ca key ca.crt (the CA the agents trust)", ep.TLSConfig.CA)
	}
	if sn := ep.TLSConfig.ServerName; sn == nil || *sn != svc.Name+"."+Namespace+".svc" {
		t.Errorf("tlsConfig serverName %v, want %s.%s.svc: targets are pod addresses, the certificate names the Service", sn, svc.Name, Namespace)
	}
	if ep.Path != "" && ep.Path != "/metrics" {
		t.Errorf("path %s, want /metrics", ep.Path)
	}

	pm := get[*monitoringv1.PodMonitor](t, b, "onus-agent")
	ds := get[*appsv1.DaemonSet](t, b, "onus-agent")
	if !selects(t, &pm.Spec.Selector, ds.Spec.Template.Labels) {
		t.Errorf("PodMonitor onus-agent does not select the agent's pods")
	}
	for _, e := range pm.Spec.PodMetricsEndpoints {
		if e.Port == nil || containerPort(&ds.Spec.Template, *e.Port) == nil {
			t.Errorf("PodMonitor port %v is no port of the agent", e.Port)
		}
	}
}

// selects reports whether sel matches the labels.
func selects(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(l))
}

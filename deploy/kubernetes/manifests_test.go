package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"
)

// object is one decoded manifest document.
type object struct {
	file  string // base name, e.g. agent.yaml
	doc   int    // 0-based document index in the file
	gvk   schema.GroupVersionKind
	meta  metav1.Object
	value runtime.Object
}

func (o object) String() string {
	return fmt.Sprintf("%s (document %d): %s %s", o.file, o.doc+1, o.gvk.Kind, o.meta.GetName())
}

// decoder decodes YAML strictly into the typed objects of the kinds the manifests may use:
// an unknown field, a field spelled in another case or a duplicate key is an error, and so
// is a kind not registered here.
func decoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme,
		batchv1.AddToScheme, networkingv1.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}

// decodeDocs splits a YAML stream into documents and decodes each strictly. Documents that
// hold only comments are skipped.
func decodeDocs(file string, data []byte) ([]object, error) {
	dec := decoder()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i+1, err)
		}
		var probe map[string]any
		if err := sigsyaml.Unmarshal(doc, &probe); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i+1, err)
		}
		if len(probe) == 0 {
			continue
		}
		v, gvk, err := dec.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i+1, err)
		}
		m, ok := v.(metav1.Object)
		if !ok {
			return nil, fmt.Errorf("%s: document %d: %s has no object metadata", file, i+1, gvk)
		}
		out = append(out, object{file: file, doc: i, gvk: *gvk, meta: m, value: v})
	}
}

// strictYAML decodes YAML into v as the API server would: unknown, duplicate and
// differently cased fields are errors.
func strictYAML(data []byte, v any) error {
	j, err := sigsyaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// manifestFiles lists the manifests of this directory (kustomization.yaml is not one).
func manifestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return f == "kustomization.yaml" })
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/kubernetes")
	}
	return files
}

type bundle struct {
	objects []object
}

var loaded struct {
	b   *bundle
	err error
}

// manifests decodes every manifest once per test binary; a decoding error fails every test
// that needs them.
func manifests(t *testing.T) *bundle {
	t.Helper()
	if loaded.b == nil && loaded.err == nil {
		b := &bundle{}
		var errs []error
		for _, f := range manifestFiles(t) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := decodeDocs(f, data)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if len(objs) == 0 {
				errs = append(errs, fmt.Errorf("%s: no Kubernetes object", f))
			}
			b.objects = append(b.objects, objs...)
		}
		loaded.b, loaded.err = b, errors.Join(errs...)
	}
	if loaded.err != nil {
		t.Fatalf("decoding the manifests: %v", loaded.err)
	}
	return loaded.b
}

// get returns the object of type T named name; the test fails when there is none.
func get[T runtime.Object](t *testing.T, b *bundle, name string) T {
	t.Helper()
	for _, o := range b.objects {
		if v, ok := o.value.(T); ok && o.meta.GetName() == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %s in the manifests", zero, name)
	return zero
}

// all returns every object of type T.
func all[T runtime.Object](b *bundle) []T {
	var out []T
	for _, o := range b.objects {
		if v, ok := o.value.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// workload is a pod template with where it comes from.
type workload struct {
	kind, name string
	selector   *metav1.LabelSelector
	pod        *corev1.PodTemplateSpec
}

func (b *bundle) workloads() []workload {
	var out []workload
	for _, o := range b.objects {
		switch v := o.value.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{"Deployment", v.Name, v.Spec.Selector, &v.Spec.Template})
		case *appsv1.DaemonSet:
			out = append(out, workload{"DaemonSet", v.Name, v.Spec.Selector, &v.Spec.Template})
		case *appsv1.StatefulSet:
			out = append(out, workload{"StatefulSet", v.Name, v.Spec.Selector, &v.Spec.Template})
		case *batchv1.Job:
			out = append(out, workload{"Job", v.Name, v.Spec.Selector, &v.Spec.Template})
		}
	}
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	b := manifests(t)
	seen := map[string]object{}
	for _, o := range b.objects {
		key := o.gvk.Kind + "/" + o.meta.GetName()
		if prev, ok := seen[key]; ok {
			t.Errorf("%s: the same %s as %s", o, o.gvk.Kind, prev)
		}
		seen[key] = o
		if o.meta.GetName() == "" {
			t.Errorf("%s: no name", o)
		}
		// Namespaced objects name their namespace, so that each file applies on its own.
		if _, isNS := o.value.(*corev1.Namespace); isNS {
			if o.meta.GetName() != Namespace {
				t.Errorf("%s: want the namespace %s", o, Namespace)
			}
		} else if o.meta.GetNamespace() != Namespace {
			t.Errorf("%s: namespace %q, want %q", o, o.meta.GetNamespace(), Namespace)
		}
		if o.meta.GetLabels()["app.kubernetes.io/part-of"] != "onus" {
			t.Errorf("%s: no label app.kubernetes.io/part-of: onus", o)
		}
	}
	t.Logf("%d objects decoded strictly from %d files", len(b.objects), len(manifestFiles(t)))
}

// TestDecoderIsStrict makes sure the decoding above rejects what the API server would.
func TestDecoderIsStrict(t *testing.T) {
	data, err := os.ReadFile("collector.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeDocs("collector.yaml", data); err != nil {
		t.Fatalf("the unchanged file: %v", err)
	}
	cases := []struct {
		name, old, new, want string
	}{
		{"unknown field", "      automountServiceAccountToken: false\n",
			"      automountServiceAccountToken: false\n      hostPIDs: true\n", `unknown field "spec.template.spec.hostPIDs"`},
		{"field in another case", "  replicas: 3\n", "  Replicas: 3\n", `unknown field "spec.Replicas"`},
		{"duplicate key", "  replicas: 3\n", "  replicas: 3\n  replicas: 2\n", `"replicas" already set`},
		{"wrong type", "  replicas: 3\n", "  replicas: three\n", "replicas"},
		{"unknown kind", "kind: PodDisruptionBudget\n", "kind: PodDisruptionBugdet\n", "PodDisruptionBugdet"},
		{"unknown version", "apiVersion: policy/v1\n", "apiVersion: policy/v1beta7\n", "policy/v1beta7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !bytes.Contains(data, []byte(c.old)) {
				t.Fatalf("collector.yaml no longer holds %q; adapt the case", c.old)
			}
			_, err := decodeDocs("collector.yaml", bytes.Replace(data, []byte(c.old), []byte(c.new), 1))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// kustomization is the part of kustomize's Kustomization that this directory uses; any other
// field is an error, so that this test is extended when the file is.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images"`
}

// optIn are manifests applied on their own, not by kustomization.yaml.
var optIn = []string{"owners-apply-job.yaml"}

func TestKustomization(t *testing.T) {
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := strictYAML(data, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: %s %s, want kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	}
	if k.Namespace != Namespace {
		t.Errorf("kustomization.yaml: namespace %q, want %q", k.Namespace, Namespace)
	}
	for _, f := range manifestFiles(t) {
		listed, opt := slices.Contains(k.Resources, f), slices.Contains(optIn, f)
		switch {
		case !listed && !opt:
			t.Errorf("%s is not listed in kustomization.yaml's resources", f)
		case listed && opt:
			t.Errorf("%s is applied on its own; remove it from kustomization.yaml's resources", f)
		}
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(r); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
	b := manifests(t)
	used := map[string]bool{}
	for _, w := range b.workloads() {
		for _, c := range w.pod.Spec.Containers {
			name, _, _ := strings.Cut(c.Image, ":")
			used[name] = true
		}
	}
	for _, img := range k.Images {
		if !used[img.Name] {
			t.Errorf("kustomization.yaml sets the image %s, which no container uses", img.Name)
		}
		if img.NewTag == "" && img.Digest == "" {
			t.Errorf("kustomization.yaml: image %s has neither newTag nor digest", img.Name)
		}
	}

	// kubectl has kustomize built in and needs no cluster for it. Applying with
	// --dry-run=client would need an API server for the kinds, so it is not tried.
	kubectl, err := lookPath("kubectl")
	if err != nil {
		t.Logf("kubectl not installed: kubectl kustomize not tried (%v)", err)
		return
	}
	out, err := runCmd(kubectl, "kustomize", ".")
	if err != nil {
		t.Fatalf("kubectl kustomize: %v", err)
	}
	built, err := decodeDocs("kubectl kustomize", out)
	if err != nil {
		t.Fatalf("the output of kubectl kustomize: %v", err)
	}
	var want, got []string
	for _, o := range b.objects {
		if !slices.Contains(optIn, o.file) {
			want = append(want, o.gvk.Kind+"/"+o.meta.GetName())
		}
	}
	for _, o := range built {
		got = append(got, o.gvk.Kind+"/"+o.meta.GetName())
		if _, isNS := o.value.(*corev1.Namespace); !isNS && o.meta.GetNamespace() != Namespace {
			t.Errorf("kubectl kustomize: %s in namespace %q", o, o.meta.GetNamespace())
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("kubectl kustomize builds %v, want %v", got, want)
	}
}

func TestSelectorsMatch(t *testing.T) {
	b := manifests(t)
	ws := b.workloads()
	podsMatching := func(sel *metav1.LabelSelector) []string {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			t.Fatalf("selector %v: %v", sel, err)
		}
		var names []string
		for _, w := range ws {
			if s.Matches(labels.Set(w.pod.Labels)) {
				names = append(names, w.kind+"/"+w.name)
			}
		}
		return names
	}
	for _, w := range ws {
		if w.kind == "Job" {
			continue // the Job controller makes the selector
		}
		if w.selector == nil || len(w.selector.MatchLabels)+len(w.selector.MatchExpressions) == 0 {
			t.Errorf("%s %s: no selector", w.kind, w.name)
			continue
		}
		if m := podsMatching(w.selector); !slices.Equal(m, []string{w.kind + "/" + w.name}) {
			t.Errorf("%s %s: its selector matches the pods of %v, want its own only", w.kind, w.name, m)
		}
	}
	for _, s := range all[*corev1.Service](b) {
		if m := podsMatching(&metav1.LabelSelector{MatchLabels: s.Spec.Selector}); len(m) != 1 {
			t.Errorf("Service %s selects the pods of %v, want one workload", s.Name, m)
		} else {
			w := workloadNamed(t, ws, m[0])
			for _, p := range s.Spec.Ports {
				if p.TargetPort.StrVal != "" && containerPort(w.pod, p.TargetPort.StrVal) == nil {
					t.Errorf("Service %s: targetPort %s is no port of %s", s.Name, p.TargetPort.StrVal, m[0])
				}
			}
		}
	}
	for _, p := range all[*policyv1.PodDisruptionBudget](b) {
		if m := podsMatching(p.Spec.Selector); len(m) != 1 {
			t.Errorf("PodDisruptionBudget %s selects the pods of %v, want one workload", p.Name, m)
		}
	}
	for _, np := range all[*networkingv1.NetworkPolicy](b) {
		m := podsMatching(&np.Spec.PodSelector)
		if len(m) != 1 {
			t.Errorf("NetworkPolicy %s applies to the pods of %v, want one workload", np.Name, m)
			continue
		}
		w := workloadNamed(t, ws, m[0])
		for _, rule := range np.Spec.Ingress {
			for _, from := range rule.From {
				if from.PodSelector != nil && len(podsMatching(from.PodSelector)) == 0 {
					t.Errorf("NetworkPolicy %s admits pods %v, which no workload has", np.Name, from.PodSelector.MatchLabels)
				}
			}
			for _, port := range rule.Ports {
				if port.Port != nil && port.Port.StrVal != "" && containerPort(w.pod, port.Port.StrVal) == nil {
					t.Errorf("NetworkPolicy %s: port %s is no port of %s", np.Name, port.Port.StrVal, m[0])
				}
			}
		}
	}
}

func workloadNamed(t *testing.T, ws []workload, kindName string) workload {
	t.Helper()
	for _, w := range ws {
		if w.kind+"/"+w.name == kindName {
			return w
		}
	}
	t.Fatalf("no workload %s", kindName)
	return workload{}
}

// containerPort returns the named port of the pod's containers, or nil.
func containerPort(pod *corev1.PodTemplateSpec, name string) *corev1.ContainerPort {
	for _, c := range pod.Spec.Containers {
		for i := range c.Ports {
			if c.Ports[i].Name == name {
				return &c.Ports[i]
			}
		}
	}
	return nil
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func TestPodTemplates(t *testing.T) {
	b := manifests(t)
	for _, w := range b.workloads() {
		t.Run(w.kind+"/"+w.name, func(t *testing.T) {
			spec := &w.pod.Spec
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Error("automountServiceAccountToken is not false (no Onus pod talks to the Kubernetes API)")
			}
			volumes := map[string]bool{}
			for _, v := range spec.Volumes {
				volumes[v.Name] = false
			}
			claims := map[string]bool{}
			if w.kind == "StatefulSet" {
				for _, o := range all[*appsv1.StatefulSet](b) {
					for _, c := range o.Spec.VolumeClaimTemplates {
						if o.Name == w.name {
							claims[c.Name] = true
						}
					}
				}
			}
			for _, c := range spec.Containers {
				checkResources(t, c)
				if c.Image == "" || !strings.Contains(c.Image, ":") || strings.HasSuffix(c.Image, ":latest") {
					t.Errorf("container %s: image %q has no pinned tag", c.Name, c.Image)
				}
				if len(c.Command) == 0 {
					t.Errorf("container %s: no command (the images may have no entrypoint)", c.Name)
				}
				// A container that serves is probed: liveness always, readiness where a Service
				// or a quorum depends on it.
				if len(c.Ports) > 0 {
					if c.LivenessProbe == nil {
						t.Errorf("container %s serves ports but has no livenessProbe", c.Name)
					}
					if (w.kind == "Deployment" || w.kind == "StatefulSet") && c.ReadinessProbe == nil {
						t.Errorf("container %s serves ports but has no readinessProbe", c.Name)
					}
				}
				for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
					if p != nil && p.HTTPGet != nil && p.HTTPGet.Port.StrVal != "" && containerPort(w.pod, p.HTTPGet.Port.StrVal) == nil {
						t.Errorf("container %s: a probe uses port %s, which it does not name", c.Name, p.HTTPGet.Port.StrVal)
					}
				}
				for _, m := range c.VolumeMounts {
					if claims[m.Name] {
						continue
					}
					if _, ok := volumes[m.Name]; !ok {
						t.Errorf("container %s mounts %s, which is no volume of the pod", c.Name, m.Name)
					}
					volumes[m.Name] = true
				}
				env := map[string]bool{}
				for _, e := range c.Env {
					env[e.Name] = true
				}
				for _, a := range slices.Concat(c.Command, c.Args) {
					for _, m := range varRef.FindAllStringSubmatch(a, -1) {
						if !env[m[1]] {
							t.Errorf("container %s: %q refers to $(%s), not in its env, so Kubernetes would pass it literally", c.Name, a, m[1])
						}
					}
				}
				if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil ||
					!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || (sc.Privileged != nil && *sc.Privileged) {
					t.Errorf("container %s: want allowPrivilegeEscalation false, readOnlyRootFilesystem true, capabilities drop [ALL], not privileged", c.Name)
				}
			}
			for name, used := range volumes {
				if !used {
					t.Errorf("volume %s is mounted by no container", name)
				}
			}
			if w.name == "onus-agent" {
				return // TestAgentDaemonSet checks what the agent needs beyond restricted
			}
			// Pod Security "restricted", which everything but the agent meets.
			psc := spec.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
				t.Error("want runAsNonRoot and a non-zero runAsUser in the pod's securityContext")
			}
			if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Error("want seccompProfile RuntimeDefault in the pod's securityContext")
			}
			if spec.HostPID || spec.HostNetwork || spec.HostIPC {
				t.Error("host namespaces are for the agent only")
			}
			for _, v := range spec.Volumes {
				if v.HostPath != nil {
					t.Errorf("volume %s: hostPath volumes are for the agent only", v.Name)
				}
			}
			for _, c := range spec.Containers {
				if sc := c.SecurityContext; sc != nil && sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
					t.Errorf("container %s adds capabilities %v", c.Name, sc.Capabilities.Add)
				}
			}
		})
	}
}

// checkResources wants CPU and memory requests and a memory limit, and a GOMEMLIMIT below
// the memory limit where one is set.
func checkResources(t *testing.T, c corev1.Container) {
	t.Helper()
	r := c.Resources
	if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() {
		t.Errorf("container %s: want cpu and memory requests, have %v", c.Name, r.Requests)
	}
	limit := r.Limits.Memory()
	if limit.IsZero() {
		t.Errorf("container %s: no memory limit", c.Name)
		return
	}
	if r.Requests.Memory().Cmp(*limit) > 0 {
		t.Errorf("container %s: memory request %s above the limit %s", c.Name, r.Requests.Memory(), limit)
	}
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" {
			continue
		}
		n, err := goMemLimit(e.Value)
		if err != nil {
			t.Errorf("container %s: GOMEMLIMIT: %v", c.Name, err)
		} else if n >= limit.Value() || n < limit.Value()/2 {
			t.Errorf("container %s: GOMEMLIMIT %s (%d bytes) should be a little below the memory limit %s (%d bytes)",
				c.Name, e.Value, n, limit, limit.Value())
		}
	}
}

// goMemLimit parses a GOMEMLIMIT value as the Go runtime does (a number with an optional
// B, KiB, MiB, GiB or TiB suffix).
func goMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() <= 0 || strings.ContainsAny(s, "eEkKMGTP.") {
		return 0, fmt.Errorf("%q is no byte count", s)
	}
	return q.Value() * mult, nil
}

// mounted resolves a file path inside container c of pod to the Secret or ConfigMap key
// behind it: kind is "Secret", "ConfigMap", "HostPath" or "".
func mounted(pod *corev1.PodTemplateSpec, c *corev1.Container, file string) (kind, name, key string) {
	file = path.Clean(file)
	best := ""
	var bestMount corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		mp := path.Clean(m.MountPath)
		if (file == mp || strings.HasPrefix(file, mp+"/")) && len(mp) > len(best) {
			best, bestMount = mp, m
		}
	}
	if best == "" {
		return "", "", ""
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(file, best), "/")
	if bestMount.SubPath != "" {
		rel = path.Join(bestMount.SubPath, rel)
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name != bestMount.Name {
			continue
		}
		switch {
		case v.Secret != nil:
			return "Secret", v.Secret.SecretName, itemKey(v.Secret.Items, rel)
		case v.ConfigMap != nil:
			return "ConfigMap", v.ConfigMap.Name, itemKey(v.ConfigMap.Items, rel)
		case v.HostPath != nil:
			return "HostPath", v.HostPath.Path, rel
		}
		return v.Name, "", rel
	}
	// A StatefulSet's volumeClaimTemplates are no pod volumes.
	return "VolumeClaim", bestMount.Name, rel
}

// itemKey maps a file in a Secret or ConfigMap volume to its key.
func itemKey(items []corev1.KeyToPath, rel string) string {
	if len(items) == 0 {
		return rel
	}
	for _, it := range items {
		if it.Path == rel {
			return it.Key
		}
	}
	return ""
}

// readme returns README.md of this directory with continued lines joined: one command a
// line.
func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(data), "")
}

var (
	createCmd = regexp.MustCompile(`(?m)^kubectl -n ` + Namespace + ` create (secret tls|secret generic|configmap) ([a-z0-9-]+)(.*)$`)
	fromKey   = regexp.MustCompile(`--from-(?:file|literal)=([A-Za-z0-9._-]+)=`)
	pathArg   = regexp.MustCompile(`(?:^|=|: )(/[^\s,]+)`)
)

// documented returns the Secrets and ConfigMaps README.md says how to create, with their
// keys.
func documented(t *testing.T) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for _, m := range createCmd.FindAllStringSubmatch(readme(t), -1) {
		keys := map[string]bool{}
		if m[1] == "secret tls" {
			keys["tls.crt"], keys["tls.key"] = true, true
		}
		for _, k := range fromKey.FindAllStringSubmatch(m[3], -1) {
			keys[k[1]] = true
		}
		out[m[2]] = keys
	}
	if len(out) == 0 {
		t.Fatal("README.md has no kubectl -n onus create commands")
	}
	return out
}

// TestReferencedObjectsExist wants every file a container is given (in its args, or in a
// configuration file of a ConfigMap) to be a key of a Secret or ConfigMap that the manifests
// define or README.md says how to create.
func TestReferencedObjectsExist(t *testing.T) {
	b := manifests(t)
	docs := documented(t)
	defined := map[string]*corev1.ConfigMap{}
	for _, cm := range all[*corev1.ConfigMap](b) {
		defined[cm.Name] = cm
	}
	for _, w := range b.workloads() {
		for _, v := range w.pod.Spec.Volumes {
			name := ""
			switch {
			case v.Secret != nil:
				name = v.Secret.SecretName
			case v.ConfigMap != nil:
				name = v.ConfigMap.Name
			default:
				continue
			}
			if defined[name] == nil && docs[name] == nil {
				t.Errorf("%s %s: volume %s uses %s, which neither the manifests define nor README.md creates", w.kind, w.name, v.Name, name)
			}
		}
		for i := range w.pod.Spec.Containers {
			c := &w.pod.Spec.Containers[i]
			var paths []string
			for _, a := range c.Args {
				for _, m := range pathArg.FindAllStringSubmatch(a, -1) {
					paths = append(paths, m[1])
				}
			}
			// Configuration files from ConfigMaps name files too.
			for _, a := range c.Args {
				for _, m := range pathArg.FindAllStringSubmatch(a, -1) {
					if kind, name, key := mounted(w.pod, c, m[1]); kind == "ConfigMap" && defined[name] != nil {
						for _, pm := range pathArg.FindAllStringSubmatch(defined[name].Data[key], -1) {
							paths = append(paths, pm[1])
						}
					}
				}
			}
			for _, p := range paths {
				kind, name, key := mounted(w.pod, c, p)
				switch {
				case kind == "ConfigMap" && defined[name] != nil:
					if _, ok := defined[name].Data[key]; !ok {
						t.Errorf("%s %s: %s is key %s of ConfigMap %s, which has no such key", w.kind, w.name, p, key, name)
					}
				case kind == "ConfigMap" || kind == "Secret":
					if !docs[name][key] {
						t.Errorf("%s %s: %s is key %s of %s %s, which README.md does not create", w.kind, w.name, p, key, kind, name)
					}
				}
			}
		}
	}
	for _, sm := range all[*monitoringv1.ServiceMonitor](b) {
		for _, ep := range sm.Spec.Endpoints {
			if ep.TLSConfig == nil || ep.TLSConfig.CA.ConfigMap == nil {
				continue
			}
			if ca := ep.TLSConfig.CA.ConfigMap; !docs[ca.Name][ca.Key] {
				t.Errorf("ServiceMonitor %s uses key %s of ConfigMap %s, which README.md does not create", sm.Name, ca.Key, ca.Name)
			}
		}
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	shipped "github.com/onus-project/onus/deploy/config"
	"github.com/onus-project/onus/internal/testutil/mddoc"
)

// TestShippedConfig loads deploy/config/collector.yaml, which the package installs as
// /etc/onus/collector.yaml, with the collector's own strict loader: as shipped, and with
// every commented setting made active. Every key of the configuration file appears in it
// exactly once, and a commented setting shows the real default where there is one.
func TestShippedConfig(t *testing.T) {
	dir := t.TempDir()
	load := func(name string, data []byte) config {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var c config
		if err := loadConfig(p, &c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return c
	}

	got := load("collector.yaml", shipped.Collector)
	want := config{ListenAddress: "0.0.0.0:8443", TLSCertFile: "/etc/onus/tls/collector.pem",
		TLSKeyFile: "/etc/onus/tls/collector-key.pem", DataDir: "/var/lib/onus-collector",
		EnrollSecretFile: "/etc/onus/enroll-secret", AdminTokenFile: "/etc/onus/admin-token"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("shipped collector.yaml loads as\n%+v\nwant\n%+v", got, want)
	}
	// Everything set: a misspelt or mistyped commented key fails the strict loader here.
	all := load("all.yaml", shipped.Uncomment(shipped.Collector))

	keys := yamlKeys(reflect.TypeOf(config{}))
	seen := map[string]int{}
	for _, s := range shipped.Settings(shipped.Collector) {
		seen[s.Key]++
		if _, ok := keys[s.Key]; !ok {
			t.Errorf("collector.yaml:%d: %s is not a configuration key", s.Line, s.Key)
		}
	}
	for k := range keys {
		if seen[k] != 1 {
			t.Errorf("collector.yaml: key %s appears %d times, want once (commented if at its default)", k, seen[k])
		}
	}

	// A commented setting shows the default of its flag, as "serve -h" prints it.
	var usage bytes.Buffer
	run([]string{"serve", "-h"}, &usage, &usage)
	defaults := map[string]string{}
	for _, f := range mddoc.UsageFlags(usage.String()) {
		defaults[strings.ReplaceAll(f.Name, "-", "_")] = f.Default
	}
	if len(defaults) == 0 {
		t.Fatalf("serve -h shows no flags:\n%s", usage.String())
	}
	for _, s := range shipped.Settings(shipped.Collector) {
		def, ok := defaults[s.Key]
		if !s.Commented || !ok || def == "" {
			continue
		}
		field, ok := keys[s.Key]
		if !ok {
			continue
		}
		var shown config
		if err := yaml.Unmarshal([]byte(s.YAML), &shown); err != nil {
			t.Fatalf("collector.yaml:%d: %v", s.Line, err)
		}
		var real config
		if err := yaml.Unmarshal([]byte(s.Key+": "+def), &real); err != nil {
			// A days flag prints 7d, which is not a Go duration.
			d, ok := reflect.ValueOf(&real).Elem().FieldByIndex(field).Addr().Interface().(*time.Duration)
			if !ok || (days{d}).Set(def) != nil {
				t.Fatalf("default %q of --%s: %v", def, s.Key, err)
			}
		}
		a := reflect.ValueOf(shown).FieldByIndex(field).Interface()
		b := reflect.ValueOf(real).FieldByIndex(field).Interface()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("collector.yaml:%d: %q shows %v, but the default is %v", s.Line, s.YAML, a, b)
		}
	}
	// The report size limits have no flags: their commented values are the built-in limits.
	if protocolLimits(all.MaxReportBytes, all.MaxDecodedBytes) != protocolLimits(0, 0) {
		t.Errorf("collector.yaml: max_report_bytes %d and max_decoded_report_bytes %d are not the default limits %+v",
			all.MaxReportBytes, all.MaxDecodedBytes, protocolLimits(0, 0))
	}
}

// yamlKeys maps the yaml keys of a configuration struct to their field indexes.
func yamlKeys(typ reflect.Type) map[string][]int {
	keys := map[string][]int{}
	for i := range typ.NumField() {
		if k := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]; k != "" && k != "-" {
			keys[k] = typ.Field(i).Index
		}
	}
	return keys
}

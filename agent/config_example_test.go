package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	shipped "github.com/onus-project/onus/deploy/config"
)

// TestShippedConfig loads deploy/config/agent.yaml, which the package installs as
// /etc/onus/agent.yaml, with "onus-agent run"'s own loader: as shipped (plus the
// collector URL the administrator adds), and with every commented setting made active. Every
// key of the configuration file appears in it exactly once, and a commented setting shows the
// real default where there is one.
func TestShippedConfig(t *testing.T) {
	dir := t.TempDir()
	const url = "https://onus.example.com:8443"
	load := func(name string, data []byte, flags ...string) runConfig {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadRunConfig(append([]string{"--config", p, "--collector-url", url}, flags...), io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return cfg
	}

	// As shipped, the file sets the enroll secret's path and leaves everything else at its
	// default; without a collector URL the agent refuses to run.
	got := load("agent.yaml", shipped.Agent)
	want := defaultRunConfig()
	want.CollectorURL, want.EnrollSecretFile = url, "/etc/onus/enroll-secret"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("shipped agent.yaml loads as\n%+v\nwant\n%+v", got, want)
	}
	p := filepath.Join(dir, "plain.yaml")
	if err := os.WriteFile(p, shipped.Agent, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadRunConfig([]string{"--config", p}, io.Discard); err == nil || !strings.Contains(err.Error(), "--collector-url") {
		t.Errorf("shipped agent.yaml without collector_url: err = %v, want --collector-url is required", err)
	}
	// Everything set: a misspelt or mistyped commented key fails the strict loader here.
	load("all.yaml", shipped.Uncomment(shipped.Agent))

	typ := reflect.TypeOf(runConfig{})
	keys := map[string][]int{}
	for i := range typ.NumField() {
		if k := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]; k != "" && k != "-" {
			keys[k] = typ.Field(i).Index
		}
	}
	seen := map[string]int{}
	defaults := reflect.ValueOf(defaultRunConfig())
	for _, s := range shipped.Settings(shipped.Agent) {
		seen[s.Key]++
		field, ok := keys[s.Key]
		if !ok {
			t.Errorf("agent.yaml:%d: %s is not a configuration key", s.Line, s.Key)
			continue
		}
		def := defaults.FieldByIndex(field)
		if !s.Commented || def.IsZero() || def.Kind() == reflect.Map && def.Len() == 0 {
			continue
		}
		one := load("setting.yaml", []byte(s.YAML), "--enroll-secret-file", "/etc/onus/enroll-secret")
		shown := reflect.ValueOf(one).FieldByIndex(field)
		if !reflect.DeepEqual(shown.Interface(), def.Interface()) {
			t.Errorf("agent.yaml:%d: %q shows %v, but the default is %v", s.Line, s.YAML, shown, def)
		}
	}
	for k := range keys {
		if seen[k] != 1 {
			t.Errorf("agent.yaml: key %s appears %d times, want once (commented if at its default)", k, seen[k])
		}
	}
}

package cliconf

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type settings struct {
	Name     string        `yaml:"name"`
	Interval time.Duration `yaml:"interval"`
	Level    string        `yaml:"log_level"`
}

var testCommand = Command[settings]{
	Name:        "test",
	ConfigUsage: "a YAML file",
	Defaults:    func() settings { return settings{Name: "default", Interval: time.Minute, Level: "info"} },
	Bind: func(fs *flag.FlagSet, s *settings) {
		fs.StringVar(&s.Name, "name", s.Name, "a name")
		fs.DurationVar(&s.Interval, "interval", s.Interval, "an interval")
		BindLog(fs, &s.Level, nil)
	},
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseOrder(t *testing.T) {
	file := writeFile(t, "name: file\ninterval: 5s\n")
	for _, tc := range []struct {
		args []string
		want settings
	}{
		{nil, settings{"default", time.Minute, "info"}},
		{[]string{"--config", file}, settings{"file", 5 * time.Second, "info"}},
		{[]string{"--name", "flag", "--config", file}, settings{"flag", 5 * time.Second, "info"}},
		{[]string{"--config", file, "--interval", "7s", "--log-level", "debug"}, settings{"file", 7 * time.Second, "debug"}},
		// A flag given with the default's value still overrides the file.
		{[]string{"--config", file, "--name", "default"}, settings{"default", 5 * time.Second, "info"}},
	} {
		got, _, err := testCommand.Parse(tc.args, io.Discard)
		if err != nil || *got != tc.want {
			t.Errorf("%q: %+v %v, want %+v", tc.args, got, err, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	var out bytes.Buffer
	var fe *FlagError
	if _, _, err := testCommand.Parse([]string{"--nmae", "x"}, &out); !errors.As(err, &fe) || !strings.Contains(out.String(), "nmae") {
		t.Errorf("unknown flag: %v, output %q", err, out.String())
	}
	if _, _, err := testCommand.Parse([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	if _, _, err := testCommand.Parse([]string{"extra"}, io.Discard); err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Errorf("stray argument: %v", err)
	}
	for body, want := range map[string]string{
		"nmae: x\n":        "nmae",
		"interval: soon\n": "soon",
		"name: " + strings.Repeat("x", 1<<20) + "\n": "larger than",
	} {
		file := writeFile(t, body)
		if _, _, err := testCommand.Parse([]string{"--config", file}, io.Discard); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), file) {
			t.Errorf("file %.20q: %v, want an error naming %q and the file", body, err, want)
		}
	}
	if _, _, err := testCommand.Parse([]string{"--config", filepath.Join(t.TempDir(), "absent")}, io.Discard); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("absent file: %v", err)
	}
	if got, _, err := testCommand.Parse([]string{"--config", writeFile(t, "")}, io.Discard); err != nil || got.Name != "default" {
		t.Errorf("empty file: %+v %v", got, err)
	}
}

func TestNewLogger(t *testing.T) {
	var out bytes.Buffer
	log, err := NewLogger(&out, "warn", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "k", "v")
	if s := out.String(); strings.Contains(s, "hidden") || !strings.Contains(s, `"msg":"shown"`) {
		t.Errorf("json logger at warn wrote %q", s)
	}
	out.Reset()
	if log, err = NewLogger(&out, "DEBUG", ""); err != nil {
		t.Fatal(err)
	}
	log.Debug("seen")
	if !strings.Contains(out.String(), "msg=seen") {
		t.Errorf("text logger at debug wrote %q", out.String())
	}
	if _, err := NewLogger(io.Discard, "loud", "text"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("bad level: %v", err)
	}
	if _, err := NewLogger(io.Discard, "info", "xml"); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("bad format: %v", err)
	}
}

// FuzzParse feeds any file content and flag value: an error or a result, never a panic, and a
// given flag always wins over what the file says.
func FuzzParse(f *testing.F) {
	f.Add("name: file\ninterval: 5s\n", "flag")
	f.Add("name: [1, 2]\n", "")
	f.Add("{", "x")
	f.Add("name: &a x\nlog_level: *a\n", "y")
	f.Fuzz(func(t *testing.T, body, name string) {
		file := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		got, _, err := testCommand.Parse([]string{"--config", file, "--name=" + name}, io.Discard)
		if err == nil && got.Name != name {
			t.Fatalf("--name=%q over %q gave %q", name, body, got.Name)
		}
	})
}

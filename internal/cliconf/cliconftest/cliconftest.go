// Package cliconftest checks a cliconf.Command the way its users rely on it: every flag,
// given on the command line together with a configuration file that sets the same key to
// another value, wins. It walks the command's flag set, so a new flag is checked without
// anyone adding it to a list.
package cliconftest

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/cliconf"
)

// value is what the file and the flag say for one kind of setting, and what the field must
// then hold.
type value struct {
	file     string // YAML value of the key
	flag     string // command-line value of the flag
	fromFile any    // the field after the file alone
	fromFlag any    // the field after the file and the flag
}

var durationType = reflect.TypeOf(time.Duration(0))

func valuesFor(t reflect.Type) (value, bool) {
	switch {
	case t == durationType:
		return value{"3h", "5h", 3 * time.Hour, 5 * time.Hour}, true
	case t.Kind() == reflect.String:
		return value{"from-file", "from-flag", "from-file", "from-flag"}, true
	case t.Kind() == reflect.Bool:
		return value{"true", "false", true, false}, true
	case t.Kind() == reflect.Int:
		return value{"3", "5", 3, 5}, true
	case t.Kind() == reflect.Int64:
		return value{"3", "5", int64(3), int64(5)}, true
	case t.Kind() == reflect.Float64:
		return value{"0.25", "0.75", 0.25, 0.75}, true
	case t == reflect.TypeOf([]string{}):
		return value{"[from-file]", "from-flag", []string{"from-file"}, []string{"from-flag"}}, true
	case t == reflect.TypeOf(map[string]string{}):
		return value{"{k: from-file}", "k=from-flag", map[string]string{"k": "from-file"}, map[string]string{"k": "from-flag"}}, true
	}
	return value{}, false
}

// target is the address a flag writes to: the pointer a standard flag holds, the first
// pointer of a struct-valued flag (such as a duration flag that also takes days), or the map
// of a map-valued flag.
func target(v flag.Value) uintptr {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map:
		return rv.Pointer()
	case reflect.Struct:
		for i := 0; i < rv.NumField(); i++ {
			if k := rv.Field(i).Kind(); k == reflect.Pointer || k == reflect.Map {
				return rv.Field(i).Pointer()
			}
		}
	}
	return 0
}

// field finds the field of cfg (a pointer to a struct) that flag f writes to, and its YAML key.
func field(cfg reflect.Value, f *flag.Flag) (int, string, bool) {
	addr := target(f.Value)
	s := cfg.Elem()
	for i := 0; i < s.NumField(); i++ {
		fv := s.Field(i)
		if fv.Addr().Pointer() == addr || (fv.Kind() == reflect.Map && fv.Pointer() == addr) {
			key, _, _ := strings.Cut(s.Type().Field(i).Tag.Get("yaml"), ",")
			return i, key, key != "" && key != "-"
		}
	}
	return 0, "", false
}

// FlagsWin checks every flag of cmd but --config: a file setting the flag's key to one value
// is read, and the flag given with another value overrides it.
func FlagsWin[T any](t *testing.T, cmd cliconf.Command[T]) {
	t.Helper()
	cfg, fs, err := cmd.Parse(nil, io.Discard)
	if err != nil {
		t.Fatalf("%s without arguments: %v", cmd.Name, err)
	}
	checked := 0
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		i, key, ok := field(reflect.ValueOf(cfg), f)
		if !ok {
			t.Errorf("%s --%s: writes to no field of %T with a YAML key", cmd.Name, f.Name, *cfg)
			return
		}
		ft := reflect.TypeOf(*cfg).Field(i)
		v, ok := valuesFor(ft.Type)
		if !ok {
			t.Errorf("%s --%s: no test values for a field of type %s; add them to cliconftest", cmd.Name, f.Name, ft.Type)
			return
		}
		file := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(file, []byte(key+": "+v.file+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		check := func(args []string, want any) {
			got, _, err := cmd.Parse(args, io.Discard)
			if err != nil {
				t.Errorf("%s %s: %v", cmd.Name, strings.Join(args, " "), err)
				return
			}
			if g := reflect.ValueOf(got).Elem().Field(i).Interface(); !reflect.DeepEqual(g, want) {
				t.Errorf("%s %s (file: %s: %s): %s = %v, want %v", cmd.Name, strings.Join(args, " "), key, v.file, ft.Name, g, want)
			}
		}
		check([]string{"--config", file}, v.fromFile)
		check([]string{"--config", file, fmt.Sprintf("--%s=%s", f.Name, v.flag)}, v.fromFlag)
		// The flag before --config wins as well: the order on the command line does not matter.
		check([]string{fmt.Sprintf("--%s=%s", f.Name, v.flag), "--config", file}, v.fromFlag)
		checked++
	})
	if checked == 0 {
		t.Fatalf("%s: no flag checked", cmd.Name)
	}
	t.Logf("%s: %d flags win over the file", cmd.Name, checked)
}

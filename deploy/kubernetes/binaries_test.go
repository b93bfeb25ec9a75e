package kubernetes

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func lookPath(name string) (string, error) { return exec.LookPath(name) }

// runCmd runs a command and returns its standard output; the error carries standard error.
func runCmd(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

var built struct {
	once sync.Once
	dir  string
	err  error
}

// binaries builds onus-agent and onus-collector once per test binary (with -race when the
// test runs with it, so the build shares the cache of the other packages' tests) and returns
// the directory holding them.
func binaries(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		// go test puts the go command that runs it first in PATH.
		gobin := "go"
		dir, err := os.MkdirTemp("", "onus-k8s-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		// No symbol table and DWARF: the link, most of the time here, is shorter.
		args := []string{"build", "-ldflags=-s -w", "-o", dir + string(filepath.Separator)}
		if raceEnabled {
			args = append(args, "-race")
		}
		start := time.Now()
		if _, built.err = runCmd(gobin, append(args, "../../agent", "../../collector")...); built.err != nil {
			return
		}
		t.Logf("built onus-agent and onus-collector in %v", time.Since(start).Round(time.Millisecond))
		// go build names each binary after its package's directory.
		for _, name := range []string{"agent", "collector"} {
			if built.err = os.Rename(filepath.Join(dir, name), filepath.Join(dir, "onus-"+name)); built.err != nil {
				return
			}
		}
	})
	if built.err != nil {
		t.Fatalf("building the binaries: %v", built.err)
	}
	return built.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// flagLine is a flag in the usage Go's flag package prints: "  -name type" (a flag that
// takes a value) or "  -name" (a boolean).
var flagLine = regexp.MustCompile(`(?m)^  -([A-Za-z0-9][A-Za-z0-9-]*)(?: ([A-Za-z_]+))?(?:\t|$)`)

// flagsOf runs the binary's command with -h and returns its flags: name → takes a value.
func flagsOf(t *testing.T, bin string, command ...string) map[string]bool {
	t.Helper()
	cmd := exec.Command(bin, append(command, "-h")...)
	out, err := cmd.CombinedOutput() // -h exits 0 or 2 depending on the command
	if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
		t.Fatalf("%s: %v", bin, err)
	}
	flags := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = m[2] != ""
	}
	if len(flags) < 3 {
		t.Fatalf("%s %s -h printed no flags:\n%s", filepath.Base(bin), strings.Join(command, " "), out)
	}
	return flags
}

// parseArgs splits args into flag values by the binary's flags, as Go's flag package does:
// -name, --name, -name=value, -name value.
func parseArgs(args []string, flags map[string]bool) (map[string]string, error) {
	vals := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return nil, fmt.Errorf("argument %q is no flag (the command takes no positional arguments here)", a)
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		takes, ok := flags[name]
		if !ok {
			return nil, fmt.Errorf("flag %q is not a flag of the command", a)
		}
		if _, dup := vals[name]; dup && name != "label" {
			return nil, fmt.Errorf("flag -%s given twice", name)
		}
		switch {
		case hasVal:
		case takes:
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %q has no value", a)
			}
			i++
			val = args[i]
		default:
			val = "true"
		}
		vals[name] = val
	}
	return vals, nil
}

// expand substitutes $(VAR) from the container's env as the kubelet does; values from the
// downward API are taken from fields.
func expand(t *testing.T, c *corev1.Container, args []string, fields map[string]string) []string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			v, ok := fields[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Fatalf("container %s: env %s from %s: give the test a value for that field", c.Name, e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = v
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		}
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = varRef.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := env[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		})
	}
	return out
}

// runFails runs bin with args and wants it to stop at reading one of files, which the pod
// mounts and this machine lacks: the flags (and any configuration file) were accepted.
func runFails(t *testing.T, bin string, args []string, files ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "ONUS_SERVER=", "ONUS_TOKEN_FILE=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s %s succeeded, want it to stop at a file of the pod", filepath.Base(bin), strings.Join(args, " "))
	}
	for _, f := range files {
		if f != "" && strings.Contains(string(out), "open "+f+": no such file or directory") {
			return
		}
	}
	t.Fatalf("%s %s: want the flags and configuration accepted and the run to stop at reading one of %v, got:\n%s",
		filepath.Base(bin), strings.Join(args, " "), files, out)
}

// isFileFlag tells the flags whose values are files that come from Secrets or ConfigMaps.
func isFileFlag(name string) bool {
	return strings.HasSuffix(name, "-file") || name == "config" || name == "f"
}

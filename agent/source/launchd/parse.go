package launchd

import (
	"errors"
	"strings"

	"github.com/onus-project/onus/agent/source/plist"
)

// Job is what the source reads of a launchd job's property list (launchd.plist(5)).
type Job struct {
	Label string
	// Program is the executable: the Program key, else the first of ProgramArguments.
	Program   string
	RunAtLoad bool
	// KeepAlive is "true" for KeepAlive true, "conditional" for a dict of conditions
	// (SuccessfulExit, NetworkState, PathState, …), "" otherwise.
	KeepAlive string
	Disabled  bool
	UserName  string
}

// ErrNotJob is the error of a property list that is not a dict with a Label.
var ErrNotJob = errors.New("launchd: not a job: no Label")

// maxLabel bounds a job's label; launchd's are reverse-DNS names of a few dozen bytes.
const maxLabel = 255

// ParseJob decodes a job's property list, XML or binary. A list that is not a dict, or has
// no Label string of at most 255 bytes without control characters or "/", is an error; keys
// of another type than launchd's are read as absent.
func ParseJob(b []byte) (Job, error) {
	d, err := plist.DecodeDict(b)
	if err != nil {
		return Job{}, err
	}
	j := Job{Label: d.String("Label"), Program: d.String("Program"), UserName: d.String("UserName")}
	if !validLabel(j.Label) {
		return Job{}, ErrNotJob
	}
	if j.Program == "" {
		if args := d.Array("ProgramArguments"); len(args) > 0 {
			j.Program, _ = args[0].(string)
		}
	}
	j.RunAtLoad, _ = d.Bool("RunAtLoad")
	j.Disabled, _ = d.Bool("Disabled")
	switch v := d["KeepAlive"].(type) {
	case bool:
		if v {
			j.KeepAlive = "true"
		}
	case map[string]any:
		j.KeepAlive = "conditional"
	}
	return j, nil
}

func validLabel(s string) bool {
	if s == "" || len(s) > maxLabel || strings.Contains(s, "/") {
		return false
	}
	for _, c := range []byte(s) {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// ParseOverrides decodes launchd's disabled.plist (or disabled.<uid>.plist), a dict of
// labels to booleans, true for a job launchctl disabled; values of another type are left
// out.
func ParseOverrides(b []byte) (map[string]bool, error) {
	d, err := plist.DecodeDict(b)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(d))
	for k, v := range d {
		if b, ok := v.(bool); ok && validLabel(k) {
			out[k] = b
		}
	}
	return out, nil
}

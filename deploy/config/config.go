// Package config holds the configuration files that the onus-agent and onus-collector
// packages install as /etc/onus/agent.yaml and /etc/onus/collector.yaml, and reads their
// shape: which settings are active and which are shown commented out. The commands' tests
// load both files with the commands' own loaders.
//
// A shipped file documents every key. A setting left at its default is shown as a comment,
// "# key: value", on one line (mappings and lists in flow style), so that removing the "# "
// sets it; prose comments never start with a lower-case word and a colon.
package config

import (
	_ "embed"
	"regexp"
	"strings"
)

// Agent is deploy/config/agent.yaml, installed as /etc/onus/agent.yaml.
//
//go:embed agent.yaml
var Agent []byte

// Collector is deploy/config/collector.yaml, installed as /etc/onus/collector.yaml.
//
//go:embed collector.yaml
var Collector []byte

// Setting is one top-level key of a shipped file, active or commented out.
type Setting struct {
	Key string
	// Line is the 1-based line number.
	Line int
	// Commented is true for a "# key: value" line.
	Commented bool
	// YAML is the line without the comment marker: "key: value".
	YAML string
}

var settingLine = regexp.MustCompile(`^(# )?([a-z][a-z0-9_]*):(\s|$)`)

// Settings lists the top-level settings of a shipped file in order.
func Settings(data []byte) []Setting {
	var out []Setting
	for i, line := range strings.Split(string(data), "\n") {
		m := settingLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		out = append(out, Setting{Key: m[2], Line: i + 1, Commented: m[1] != "",
			YAML: strings.TrimPrefix(line, m[1])})
	}
	return out
}

// Uncomment returns the file with every commented setting made active.
func Uncomment(data []byte) []byte {
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if m := settingLine.FindStringSubmatch(line); m != nil && m[1] != "" {
			lines[i] = strings.TrimPrefix(line, m[1])
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

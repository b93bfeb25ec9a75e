// Package cliconf reads the settings of onus-collector's and onus-agent's long-running
// commands one way: the defaults, then the YAML file --config names, then the flags given on
// the command line. The flags are bound onto the very struct the file was decoded into, so a
// flag given always overrides the file's key and there is no list of fields to merge by hand
// in which one could be forgotten. It also holds the logging flags every command shares.
package cliconf

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"go.yaml.in/yaml/v3"
)

// MaxFileBytes bounds what a configuration file may hold; a larger one is refused, not cut.
const MaxFileBytes = 1 << 20

// Command describes the settings of one command.
type Command[T any] struct {
	// Name names the flag set in its messages ("serve", "run").
	Name string
	// ConfigUsage is the help text of --config.
	ConfigUsage string
	// Defaults returns the settings before the file and the flags.
	Defaults func() T
	// Bind defines every flag of the command on fs, each writing into cfg, with cfg's
	// current value as the flag's default.
	Bind func(fs *flag.FlagSet, cfg *T)
}

// FlagError is a command line the flag package refused (or -h); the flag package has already
// printed the problem and the usage.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// Parse reads args. The returned flag set's flags write into the returned settings, so a
// caller (or a test) can tell from it which field each flag sets.
func (c Command[T]) Parse(args []string, out io.Writer) (*T, *flag.FlagSet, error) {
	// The first pass finds --config and reports any flag error once, to out.
	cfg := c.Defaults()
	path := ""
	fs := c.flags(&cfg, &path, out)
	if err := fs.Parse(args); err != nil {
		return nil, nil, &FlagError{err}
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if path == "" {
		return &cfg, fs, nil
	}
	// The second pass starts again from the defaults, decodes the file onto them, and then
	// applies the same flags onto the same struct: the flags given win.
	fileCfg := c.Defaults()
	if err := LoadFile(path, &fileCfg); err != nil {
		return nil, nil, err
	}
	fs = c.flags(&fileCfg, &path, io.Discard)
	if err := fs.Parse(args); err != nil {
		return nil, nil, &FlagError{err}
	}
	return &fileCfg, fs, nil
}

func (c Command[T]) flags(cfg *T, path *string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(path, "config", *path, c.ConfigUsage)
	c.Bind(fs, cfg)
	return fs
}

// LoadFile decodes the YAML file at path onto cfg strictly: a key cfg has no field for is an
// error naming it, so a misspelt setting is not silently ignored.
func LoadFile(path string, cfg any) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return fmt.Errorf("--config %s: larger than %d bytes", path, MaxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	return nil
}

// LogLevelUsage and LogFormatUsage are the help texts of --log-level and --log-format.
const (
	LogLevelUsage  = "log level: debug, info, warn, error"
	LogFormatUsage = "log format: text or json"
)

// BindLog defines --log-level on fs, and --log-format when format is not nil, with their
// current values as the defaults.
func BindLog(fs *flag.FlagSet, level, format *string) {
	fs.StringVar(level, "log-level", *level, LogLevelUsage)
	if format != nil {
		fs.StringVar(format, "log-format", *format, LogFormatUsage)
	}
}

// ParseLevel reads a log level: debug, info, warn or error, in any case, optionally with an
// offset such as "info+2" (slog's text form).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// NewLogger returns a logger writing to w at level ("debug", "info", "warn", "error") in
// format ("text" or "json"; "" is text); its errors name the flag at fault.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	l, err := ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

// Command onus-agent inventories the host it runs on: its facts and capacity, installed
// software and services. "onus-agent inventory" prints the inventory once as JSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/inventory"
	"github.com/onus-project/onus/internal/version"
)

const usage = `Usage: onus-agent <command> [flags]

Commands:
  inventory   print this host's inventory as JSON and exit
  version     print the version and exit

Run "onus-agent <command> -h" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "inventory":
		return inventoryCmd(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "onus-agent", version.String())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "onus-agent: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// labelFlag collects repeated --label key=value flags.
type labelFlag map[string]string

func (l labelFlag) String() string { return fmt.Sprint(map[string]string(l)) }

func (l labelFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return errors.New("want key=value")
	}
	l[k] = val
	return nil
}

func inventoryCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inventory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("host-root", "/", "the host's root file system (mount it read-only in a container and point here)")
	stateDir := fs.String("state-dir", "/var/lib/onus-agent", "the agent's state directory (keeps a generated host ID)")
	only := fs.String("sources", "", "comma-separated sources to run (default: all of this platform's)")
	compact := fs.Bool("compact", false, "print the JSON on one line")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	labels := labelFlag{}
	fs.Var(labels, "label", "a host label key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "onus-agent inventory: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "onus-agent inventory: --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts := inventory.Options{Root: hostfs.Root(*root), StateDir: *stateDir, Labels: labels, Logger: log}
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	if len(labels) == 0 {
		opts.Labels = nil
	}
	inv, err := inventory.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "onus-agent inventory: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := inv.Collect(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "onus-agent inventory: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	if !*compact {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "onus-agent inventory: %v\n", err)
		return 1
	}
	return 0
}

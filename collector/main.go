// Command onus-collector receives the agents' reports, keeps the fleet's inventory and
// ownership registry, and serves them over HTTP and to Prometheus.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/onus-project/onus/internal/version"
)

const usage = `Usage: onus-collector <command> [flags]

Commands:
  version     print the version and exit
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
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "onus-collector", version.String())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "onus-collector: unknown command %q\n\n%s", args[0], usage)
	return 2
}

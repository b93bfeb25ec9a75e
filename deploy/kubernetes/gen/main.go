// Command gen rewrites the generated Kubernetes manifests of deploy/kubernetes (the
// PrometheusRule and the owners ConfigMap) from the files they copy. Run it from the
// repository root after changing deploy/prometheus/onus-rules.yml or
// deploy/owners.example.yaml:
//
//	go run ./deploy/kubernetes/gen
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/onus-project/onus/deploy/kubernetes"
)

func main() {
	deployDir := flag.String("deploy-dir", "deploy", "the repository's deploy directory")
	flag.Parse()
	files, err := kubernetes.Generate(*deployDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v (run it from the repository root, or give -deploy-dir)\n", err)
		os.Exit(1)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := filepath.Join(*deployDir, name)
		if old, err := os.ReadFile(p); err == nil && string(old) == string(files[name]) {
			fmt.Printf("%s: unchanged\n", p)
			continue
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "gen: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("%s: written\n", p)
	}
}

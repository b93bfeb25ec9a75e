// Package version holds the build's version, set by the linker:
// -ldflags "-X github.com/onus-project/onus/internal/version.Version=v1.2.3".
// Both binaries print it ("version") and expose it on /metrics as onus_build_info.
package version

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is the release version; "dev" for builds outside a release.
var Version = "dev"

// Revision returns the VCS revision the build recorded, shortened to 12 characters, or "".
func Revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
	}
	return ""
}

// String returns the version with the VCS revision when the build recorded one.
func String() string {
	if r := Revision(); r != "" {
		return Version + " (" + r + ")"
	}
	return Version
}

// BuildInfo returns the onus_build_info gauge: always 1, its labels naming the version, the
// VCS revision and the Go version of the build, so a dashboard or an alert can tell which
// replicas and agents run which build. Each call returns a new collector for one registry.
func BuildInfo() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "onus", Name: "build_info",
		Help:        "Always 1: the build's version, VCS revision and Go version as labels.",
		ConstLabels: prometheus.Labels{"version": Version, "revision": Revision(), "goversion": runtime.Version()}})
	g.Set(1)
	return g
}

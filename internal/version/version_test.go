package version

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(BuildInfo())
	want := `# HELP onus_build_info Always 1: the build's version, VCS revision and Go version as labels.
# TYPE onus_build_info gauge
onus_build_info{goversion="` + runtime.Version() + `",revision="` + Revision() + `",version="` + Version + `"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "onus_build_info"); err != nil {
		t.Fatal(err)
	}
}

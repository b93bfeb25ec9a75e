package ingest

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/etcdtest"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// benchPackages returns n packages with the descriptive fields a distribution fills in.
func benchPackages(n, variant int) []model.Package {
	out := make([]model.Package, n)
	for i := range out {
		out[i] = model.Package{Source: "deb", Name: fmt.Sprintf("package-%04d", i), Version: fmt.Sprintf("1.%d-%d", i%7, variant), Arch: "amd64",
			InstallTime: time.Unix(1.7e9+int64(i), 0).UTC(), InstalledSize: uint64(1000 * i),
			PackageInfo: model.PackageInfo{Summary: fmt.Sprintf("the package number %d, for benchmarks", i),
				Maintainer: "Debian Benchmark Team <bench@lists.example.org>", Section: "libs", Origin: fmt.Sprintf("source-%d", i/3), License: "GPL-2+"}}
	}
	return out
}

// cpu returns the CPU time this process used so far (user + system), the embedded etcd's
// included.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReport applies reports of one host of 1,200 packages through Ingest.Report, with
// a real embedded etcd and an index that watches it, as a collector does: heartbeats,
// deltas of 3 changed packages, and full reports of a changed state. cpu-ms/op is the
// process's own CPU per report (etcd's work included, the index's watch too), which a busy
// machine does not inflate the way it inflates the wall time.
func BenchmarkReport(b *testing.B) {
	st, err := store.New(etcdtest.New(b), "")
	if err != nil {
		b.Fatal(err)
	}
	if err := st.EnsureSchema(context.Background()); err != nil {
		b.Fatal(err)
	}
	g := replica(b, st, true)
	agent := enroll(b, g, "h1")
	ctx := context.Background()
	states := [2]*protocol.State{}
	hashes := [2]string{}
	for v := range 2 {
		pkgs := benchPackages(1200, 0)
		if v == 1 {
			for i := 0; i < 3; i++ {
				pkgs[i*400].Version += "+upd1"
			}
		}
		states[v], hashes[v] = state(pkgs...)
	}
	seq := uint64(0)
	send := func(r protocol.Report) {
		seq++
		r.HostID, r.Seq = "h1", seq
		resp, err := g.Report(ctx, agent, &r)
		if err != nil || resp.Status != protocol.StatusAccepted {
			b.Fatalf("%s report: %+v, %v", r.Kind, resp, err)
		}
	}
	fulls := [2]protocol.Report{}
	deltas := [2]protocol.Report{} // from v to 1-v
	for v := range 2 {
		fulls[v] = protocol.Report{Kind: protocol.KindFull, Hash: hashes[v], State: states[v]}
		deltas[v] = protocol.Report{Kind: protocol.KindDelta, BaseHash: hashes[v], Hash: hashes[1-v], Delta: protocol.Diff(states[v], states[1-v])}
	}
	send(fulls[0])
	cur := 0
	for _, kind := range []string{protocol.KindHeartbeat, protocol.KindDelta, protocol.KindFull} {
		b.Run(kind, func(b *testing.B) {
			start := cpu()
			for b.Loop() {
				switch kind {
				case protocol.KindHeartbeat:
					send(protocol.Report{Kind: protocol.KindHeartbeat, BaseHash: hashes[cur], Hash: hashes[cur]})
				case protocol.KindDelta:
					send(deltas[cur])
					cur = 1 - cur
				case protocol.KindFull:
					cur = 1 - cur
					send(fulls[cur])
				}
			}
			b.ReportMetric(float64(cpu()-start)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

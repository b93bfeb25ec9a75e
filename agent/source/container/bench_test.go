package container

import (
	"context"
	"syscall"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
)

// cpuTime is the process's user and system CPU time, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchCollect times Collect on root, reporting allocations and the CPU time per read.
func benchCollect(b *testing.B, root string) {
	s := New(Options{Root: hostfs.Root(root), APITimeout: -1})
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if _, err := s.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkCollectFixture reads the fixture root: Docker's data root, two Podman stores with
// their libpod databases and containerd's metadata.
func BenchmarkCollectFixture(b *testing.B) { benchCollect(b, fixtureRoot) }

// BenchmarkCollect10000 reads a Docker data root of 10,000 containers, of which
// MaxContainers are read and the rest counted.
func BenchmarkCollect10000(b *testing.B) {
	root := b.TempDir()
	manyDocker(b, root, 10000)
	b.ResetTimer()
	benchCollect(b, root)
}

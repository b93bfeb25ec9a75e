//go:build unix

package container

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	bolt "go.etcd.io/bbolt"
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

// BenchmarkCollect10000Bolt reads a libpod state database and a containerd metadata
// database of 10,000 containers each, MaxContainers of each read: the bolt tree walk and
// bolt's reading.
func BenchmarkCollect10000Bolt(b *testing.B) {
	root := b.TempDir()
	fill := func(db string, put func(tx *bolt.Tx, i int) error) {
		p := filepath.Join(root, db)
		mkdir(b, filepath.Dir(p))
		d, err := bolt.Open(p, 0o644, nil)
		if err != nil {
			b.Fatal(err)
		}
		err = d.Update(func(tx *bolt.Tx) error {
			for i := range 10000 {
				if err := put(tx, i); err != nil {
					return err
				}
			}
			return nil
		})
		if err := cmpErr(err, d.Close()); err != nil {
			b.Fatal(err)
		}
	}
	fill(podmanRoot+"/libpod/bolt_state.db", func(tx *bolt.Tx, i int) error {
		cfg := fmt.Sprintf(`{"name":"app-%05d","rootfsImageName":"docker.io/library/alpine:3.20","user":"1000:1000","labels":{"io.podman.compose.project":"shop"}}`, i)
		return cmpErr(putPath(tx, []byte(cfg), "ctr", ctrID(i), "config"), putPath(tx, []byte(`{"state":3}`), "ctr", ctrID(i), "state"))
	})
	fill(containerdRoots[0].root+"/"+metaDB, func(tx *bolt.Tx, i int) error {
		return cmpErr(putPath(tx, []byte("docker.io/library/alpine:3.20"), "v1", "k8s.io", "containers", ctrID(i), "image"),
			putPath(tx, []byte("shop"), "v1", "k8s.io", "containers", ctrID(i), "labels", "io.kubernetes.pod.namespace"))
	})
	mkdir(b, filepath.Join(root, podmanRoot, "vfs-containers"))
	b.ResetTimer()
	benchCollect(b, root)
}

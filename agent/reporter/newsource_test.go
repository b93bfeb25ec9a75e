//go:build linux

package reporter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/inventory"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/agent/source/dpkg"
	"github.com/onus-project/onus/agent/source/host"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// tarlist is a package database source the reporter has never heard of: a text file of
// "name version arch" lines, as a distribution that installs tarballs might keep. It says
// what it is through the optional interfaces of package source only.
type tarlist struct{ root hostfs.Root }

const (
	tarlistDir    = "/var/lib/tarlist"
	tarlistDB     = tarlistDir + "/installed"
	tarlistLock   = tarlistDir + "/busy"
	tarlistFormat = "tgz"
)

func (tarlist) Name() string          { return "tarlist" }
func (tarlist) PackageFormat() string { return tarlistFormat }
func (s tarlist) WatchPaths() []string {
	return []string{s.root.Path(tarlistDir)}
}
func (s tarlist) Locks() []source.Lock { return []source.Lock{{Path: s.root.Path(tarlistLock)}} }

func (s tarlist) Collect(context.Context) (source.Result, error) {
	var res source.Result
	f, err := os.Open(s.root.Path(tarlistDB))
	if errors.Is(err, fs.ErrNotExist) {
		return res, source.ErrNotPresent
	}
	if err != nil {
		return res, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			// A partial result accompanies the error: the reporter must not believe it.
			return res, fmt.Errorf("tarlist: line %d: want name, version and arch", line)
		}
		res.Software = append(res.Software, model.Package{Source: tarlistFormat, Name: fields[0], Version: fields[1], Arch: fields[2]})
	}
	return res, sc.Err()
}

var (
	_ source.PackageSource = tarlist{}
	_ source.Watcher       = tarlist{}
	_ source.Locker        = tarlist{}
)

func writeTarlist(t *testing.T, root, content string) {
	t.Helper()
	// Written beside and renamed over, as package managers commit: the watch sees one change.
	p := filepath.Join(root, tarlistDB)
	if err := os.WriteFile(p+".new", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
}

func tarlistPackages(st *protocol.State) []string {
	var out []string
	for _, p := range st.Software {
		if p.Source == tarlistFormat {
			out = append(out, p.Name+" "+p.Version)
		}
	}
	return out
}

// startTarlistAgent runs an agent on the debian12 fixture with dpkg, host and tarlist, the
// last with three packages.
func startTarlistAgent(t *testing.T) (*testAgent, *conformantPeer, string) {
	t.Helper()
	peer := newPeer(t)
	root := copyRoot(t, "debian12")
	if err := os.MkdirAll(filepath.Join(root, tarlistDir), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTarlist(t, root, "alpha 1.0 x86_64\nbeta 2.1 x86_64\ngamma 0.9 noarch\n")
	state := t.TempDir()
	inv, err := inventory.New(inventory.Options{Root: hostfs.Root(root), StateDir: state, Sources: []source.Source{
		host.New(host.Options{Root: hostfs.Root(root), StateDir: state}), dpkg.New(hostfs.Root(root)), tarlist{hostfs.Root(root)}}})
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, root, state, peer.URL(), func(o *Options) { o.Inventory = inv })
	waitFull(t, a)
	st, _ := peer.state(debianHostID)
	if got := tarlistPackages(st); !slices.Equal(got, []string{"alpha 1.0", "beta 2.1", "gamma 0.9"}) {
		t.Fatalf("tarlist packages %v in the full report", got)
	}
	return a, peer, root
}

// TestNewPackageSourceFailedReadCarriedOver: a package source the reporter has no word of
// that fails a read keeps its packages and yields no event, neither when it fails nor when
// it recovers; its real changes afterwards are events. Nothing but the source itself says
// what it produces.
func TestNewPackageSourceFailedReadCarriedOver(t *testing.T) {
	a, peer, root := startTarlistAgent(t)
	n := testutil.ToFloat64(a.r.m.passes.WithLabelValues("watch"))
	writeTarlist(t, root, "alpha 1.0 x86_64\nthis line is broken\ngamma 0.9 noarch\n")
	wait.Until(t, 5*time.Second, "a collection", func() bool { return testutil.ToFloat64(a.r.m.passes.WithLabelValues("watch")) > n })
	wait.Until(t, 5*time.Second, "the failed source reported", func() bool {
		st, _ := peer.state(debianHostID)
		return st != nil && sourceState(st, "tarlist") == "error"
	})
	st, _ := peer.state(debianHostID)
	if got := tarlistPackages(st); !slices.Equal(got, []string{"alpha 1.0", "beta 2.1", "gamma 0.9"}) {
		t.Errorf("tarlist packages %v while it failed, want the three from before", got)
	}
	if len(st.Software) != 19+3 {
		t.Errorf("%d packages while tarlist failed, want dpkg's 19 and tarlist's 3", len(st.Software))
	}
	writeTarlist(t, root, "alpha 1.0 x86_64\nbeta 2.1 x86_64\ngamma 0.9 noarch\n")
	wait.Until(t, 5*time.Second, "tarlist back", func() bool {
		st, _ := peer.state(debianHostID)
		return st != nil && sourceState(st, "tarlist") == "ok"
	})
	if ev := peer.allEvents(); len(ev) != 0 {
		t.Errorf("events %+v from a failed read", ev)
	}

	// A real change of the same source is reported as one.
	writeTarlist(t, root, "alpha 1.1 x86_64\nbeta 2.1 x86_64\ngamma 0.9 noarch\n")
	wait.Until(t, 5*time.Second, "the upgrade reported", func() bool {
		return slices.ContainsFunc(peer.allEvents(), func(e protocol.Event) bool {
			return e.Type == protocol.EventUpgraded && e.Source == tarlistFormat && e.Name == "alpha" && e.Version == "1.1"
		})
	})
	if ev := peer.allEvents(); len(ev) != 1 {
		t.Errorf("events %+v, want the one upgrade", ev)
	}
}

// TestNewPackageSourceLockWait: the lock a new source names is waited for like dpkg's: a
// change made while it exists is reported once it is gone.
func TestNewPackageSourceLockWait(t *testing.T) {
	a, peer, root := startTarlistAgent(t)
	lock := filepath.Join(root, tarlistLock)
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n := testutil.ToFloat64(a.r.m.passes.WithLabelValues("watch"))
	writeTarlist(t, root, "alpha 1.0 x86_64\nbeta 2.1 x86_64\ngamma 0.9 noarch\ndelta 4 noarch\n")
	// Well past the debounce (100 ms), short of the lock wait (5 s).
	time.Sleep(time.Second)
	if got := testutil.ToFloat64(a.r.m.passes.WithLabelValues("watch")); got != n {
		t.Fatalf("%v watch collections while the lock was held, want %v", got, n)
	}
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 5*time.Second, "the install reported", func() bool {
		return slices.ContainsFunc(peer.allEvents(), func(e protocol.Event) bool {
			return e.Type == protocol.EventInstalled && e.Source == tarlistFormat && e.Name == "delta"
		})
	})
}

package index

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/store"
	"github.com/onus-project/onus/internal/testutil/wait"
)

// fakeSource is a store in memory that the index lists and watches: the test changes it
// with put and del, and hands the resulting events to the watch in batches it chooses
// (in any order, or not at all), or makes the watch fail as after a compaction.
type fakeSource struct {
	st *store.Store // key layout only

	mu      sync.Mutex
	kvs     map[string]store.KV
	rev     int64
	lists   int
	batches chan fakeBatch
	builds  map[string]store.Build
}

type fakeBatch struct {
	evs     []store.Event
	rev     int64
	compact bool
}

func newFakeSource(t *testing.T) *fakeSource {
	st, err := store.New(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return &fakeSource{st: st, kvs: map[string]store.KV{}, batches: make(chan fakeBatch, 16), builds: map[string]store.Build{}}
}

func (f *fakeSource) List(ctx context.Context, _ int64, fn func(store.KV) error) (int64, error) {
	f.mu.Lock()
	f.lists++
	keys := make([]string, 0, len(f.kvs))
	for k := range f.kvs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kvs := make([]store.KV, len(keys))
	for i, k := range keys {
		kvs[i] = f.kvs[k]
	}
	rev := f.rev
	f.mu.Unlock()
	for _, kv := range kvs {
		if err := fn(kv); err != nil {
			return 0, err
		}
	}
	return rev, nil
}

func (f *fakeSource) Watch(ctx context.Context, rev int64, fn func([]store.Event, int64) error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b := <-f.batches:
			if b.compact {
				return fmt.Errorf("%w (at %d)", store.ErrCompacted, b.rev)
			}
			if err := fn(b.evs, b.rev); err != nil {
				return err
			}
		}
	}
}

func (f *fakeSource) put(kind, name string, value []byte) store.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rev++
	kv := store.KV{Key: f.st.Key(kind, name), Value: value, ModRevision: f.rev}
	f.kvs[kv.Key] = kv
	return store.Event{KV: kv}
}

func (f *fakeSource) del(kind, name string) store.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rev++
	key := f.st.Key(kind, name)
	delete(f.kvs, key)
	return store.Event{KV: store.KV{Key: key, ModRevision: f.rev}, Deleted: true}
}

// host writes a host record of packages ("name" or "+name" for one installed while Onus
// watched) and services, after the build keys it needs; it returns the events in order.
func (f *fakeSource) host(t *testing.T, id string, pkgs []string, units ...string) []store.Event {
	t.Helper()
	rec := &store.HostRecord{HostID: id, Hash: "h-" + id, Seq: 1, FirstReport: time.Unix(1e9, 0), UpdatedAt: time.Unix(1e9, 0),
		Host: model.Host{ID: id, Hostname: "host-" + id, OS: model.OS{Family: "debian"}}}
	var evs []store.Event
	for _, p := range pkgs {
		name, installed := strings.CutPrefix(p, "+")
		in := store.Installation{Source: "deb", Name: name, Version: "1", Arch: "amd64", Installed: installed}
		rec.Software = append(rec.Software, in)
		b := store.Build{Source: "deb", Name: name, Arch: "amd64", Version: "1"}
		if _, ok := f.builds[b.Key()]; !ok {
			b.ID = uint32(len(f.builds) + 1)
			f.builds[b.Key()] = b
			val, _ := json.Marshal(b)
			evs = append(evs, f.put(store.KindBuild, b.Key(), val))
		}
	}
	for _, u := range units {
		rec.Services = append(rec.Services, model.Service{Manager: "systemd", Name: u})
	}
	val, err := store.EncodeHost(rec, func(in store.Installation) (uint32, bool) {
		b, ok := f.builds[store.BuildKey(in.Source, in.Name, in.Arch, in.Version)]
		return b.ID, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(evs, f.put(store.KindHost, id, val))
}

func (f *fakeSource) agent(id string) store.Event {
	val, _ := json.Marshal(store.Agent{HostID: id, Hostname: "host-" + id})
	return f.put(store.KindAgent, id, val)
}

func (f *fakeSource) title(name string) store.Event {
	val, _ := json.Marshal(store.Title{Source: "deb", Name: name, FirstSeen: time.Unix(1e9, 0)})
	return f.put(store.KindTitle, store.TitleName("deb", name), val)
}

// send hands events to the watch and waits until the index has applied them.
func (f *fakeSource) send(t *testing.T, ix *Index, evs ...store.Event) {
	t.Helper()
	f.mu.Lock()
	rev := f.rev
	f.mu.Unlock()
	f.batches <- fakeBatch{evs: evs, rev: rev}
	wait.Until(t, 5*time.Second, "the index applies the batch", func() bool { return ix.Revision() >= rev })
}

// view is everything the index answers, in a comparable form.
type view struct {
	Agents, Hosts, Titles int
	TitleCounts           []string
	Services              []string
	Installers            map[string][]string
	Summaries             []string
}

func viewOf(ix *Index) view {
	v := view{Installers: map[string][]string{}}
	v.Agents, v.Hosts, v.Titles = ix.Counts()
	for _, t := range ix.Titles() {
		v.TitleCounts = append(v.TitleCounts, fmt.Sprintf("%s hosts=%d installed=%d catalogued=%v", t.Key(), t.Hosts, t.Installed, t.Catalogued))
		if hosts, _ := ix.InstallingHosts(t.Key(), 0); len(hosts) > 0 {
			v.Installers[t.Key()] = hosts
		}
	}
	for _, s := range ix.Services() {
		v.Services = append(v.Services, fmt.Sprintf("%s hosts=%d", s.Title, s.Hosts))
	}
	hosts, _ := ix.Hosts("", 1000, nil)
	for _, h := range hosts {
		v.Summaries = append(v.Summaries, fmt.Sprintf("%s %s software=%d services=%d", h.ID, h.Hostname, h.Software, h.Services))
	}
	slices.Sort(v.TitleCounts)
	slices.Sort(v.Services)
	return v
}

// listed is what a fresh index holds after listing src as it is now.
func listed(t *testing.T, src *fakeSource) view {
	t.Helper()
	ix, err := New(Options{Store: src.st, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.list(context.Background()); err != nil {
		t.Fatal(err)
	}
	return viewOf(ix)
}

func run(t *testing.T, src *fakeSource) *Index {
	t.Helper()
	ix, err := New(Options{Store: src.st, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ix.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ix.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("index not ready")
	}
	return ix
}

// TestCacheWatchEqualsList drives the index through a history with a fake list and watch,
// no etcd: hosts added, changed and deleted, an event older than what the index holds, a
// compaction with changes the watch never delivered. After each step the index must hold
// exactly what a fresh list of the same store holds.
func TestCacheWatchEqualsList(t *testing.T) {
	src := newFakeSource(t)
	src.agent("a1")
	src.title("bash")
	src.host(t, "h1", []string{"bash", "curl"}, "ssh.service")
	ix := run(t, src)
	check := func(step string) {
		t.Helper()
		if got, want := viewOf(ix), listed(t, src); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: watched index\n%+v\nlisted index\n%+v", step, got, want)
		}
	}
	check("first list")

	// Changes: a new host, h1 upgraded with a package installed under watch, an agent.
	var evs []store.Event
	evs = append(evs, src.host(t, "h2", []string{"bash", "nginx"}, "nginx.service", "ssh.service")...)
	old := src.kvs[src.st.Key(store.KindHost, "h1")]
	evs = append(evs, src.host(t, "h1", []string{"bash", "+vim"}, "ssh.service")...)
	evs = append(evs, src.agent("a2"))
	src.send(t, ix, evs...)
	check("hosts added and changed")
	if hosts, _ := ix.InstallingHosts("deb:vim", 0); !slices.Equal(hosts, []string{"h1"}) {
		t.Fatalf("installers of vim: %v", hosts)
	}
	if tt, ok := ix.Title("deb:curl"); ok {
		t.Fatalf("curl, on no host and not catalogued, still listed: %+v", tt)
	}

	// An event older than the record held (a relist and the watch overlapping) changes
	// nothing.
	src.send(t, ix, store.Event{KV: old})
	check("stale event")
	if h, _ := ix.Host("h1"); h.ModRevision != src.kvs[old.Key].ModRevision {
		t.Fatalf("a stale event went back to the old record: revision %d, want %d", h.ModRevision, src.kvs[old.Key].ModRevision)
	}

	// A deletion takes the host's part out of every derived set.
	src.send(t, ix, src.del(store.KindHost, "h2"), src.del(store.KindAgent, "a1"))
	check("host deleted")
	if _, ok := ix.Title("deb:nginx"); ok {
		t.Fatal("nginx still listed after its only host went")
	}

	// Changes the watch never delivers, then a compaction: the relist swaps in a state
	// that holds them, and nothing of the old one.
	src.del(store.KindHost, "h1")
	src.host(t, "h3", []string{"zsh"})
	src.title("zsh")
	relists := testutil.ToFloat64(ix.metrics.relists)
	src.batches <- fakeBatch{compact: true, rev: src.rev}
	wait.Until(t, 10*time.Second, "the index lists again after the compaction", func() bool {
		_, ok := ix.Host("h3")
		return ok
	})
	check("relist after compaction")
	if got := testutil.ToFloat64(ix.metrics.relists); got != relists+1 {
		t.Errorf("relists %v, want %v", got, relists+1)
	}
	if _, ok := ix.Host("h1"); ok {
		t.Fatal("h1, deleted while the watch was blind, survived the relist")
	}
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/onus-project/onus/internal/etcdtest"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

func goldenRecord(t testing.TB, name string) *store.HostRecord {
	t.Helper()
	inv := fixture.Golden(t, name)
	st, _ := protocol.FromInventory(inv)
	// Some installations say where they are and who put them there; a container runs.
	for i := range st.Software {
		if i%7 == 3 {
			st.Software[i].InstallInfo = model.InstallInfo{Location: "/opt/x/" + st.Software[i].Name, User: "alice",
				Digest: "sha256:ab", Requested: model.RequestedExplicit, InstalledBy: "alice", InstallCommand: "apt-get install x",
				Evidence: "apt-history", Copies: i % 3, Platform: i%2 == 0, Labels: map[string]string{"out_of_tree": "true"}}
		}
	}
	st.Services = append(st.Services, model.Service{Manager: "docker", Name: "web", Image: "docker.io/library/nginx:1.25",
		ActiveState: "running", User: "101", Labels: map[string]string{"com.docker.compose.project": "shop"}})
	protocol.Normalize(&st)
	rec := &store.HostRecord{HostID: inv.Host.ID, Hash: protocol.Hash(&st), Seq: 7,
		FirstReport: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), UpdatedAt: time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC),
		Host: st.Host, Services: st.Services, Listeners: st.Listeners, Sources: st.Sources}
	for i, p := range st.Software {
		in := store.Installation{Source: p.Source, Name: p.Name, Version: p.Version, Arch: p.Arch, InstallTime: p.InstallTime, State: p.State,
			InstallInfo: p.InstallInfo}
		if i%5 == 0 {
			in.Installed, in.InstalledAt = true, time.Date(2026, 3, 1, 0, 0, i, 0, time.UTC)
		}
		rec.Software = append(rec.Software, in)
	}
	rec.Events = []protocol.Event{{Type: protocol.EventInstalled, Source: "deb", Name: "x", Version: "1", Time: rec.UpdatedAt, DetectedAt: rec.UpdatedAt}}
	return rec
}

// builds numbers builds in memory, as the collector's index does from the store.
type builds struct {
	byKey map[string]uint32
	byID  map[uint32]store.Build
}

func newBuilds() *builds { return &builds{byKey: map[string]uint32{}, byID: map[uint32]store.Build{}} }

func (b *builds) number(in store.Installation) (uint32, bool) {
	k := store.BuildKey(in.Source, in.Name, in.Arch, in.Version)
	if id, ok := b.byKey[k]; ok {
		return id, true
	}
	id := uint32(len(b.byKey) + 1)
	b.byKey[k] = id
	b.byID[id] = store.Build{ID: id, Source: in.Source, Name: in.Name, Arch: in.Arch, Version: in.Version}
	return id, true
}

func (b *builds) build(id uint32) (store.Build, bool) {
	bd, ok := b.byID[id]
	return bd, ok
}

// TestHostRecordRoundTrip encodes real inventories and checks they decode to the same
// record, whose rebuilt state has the same hash.
func TestHostRecordRoundTrip(t *testing.T) {
	for _, name := range []string{"debian12", "rocky9", "arch", "centos7", "opensuse15", "alpine3", "distroless"} {
		t.Run(name, func(t *testing.T) {
			rec := goldenRecord(t, name)
			nb := newBuilds()
			b, err := store.EncodeHost(rec, nb.number)
			if err != nil {
				t.Fatal(err)
			}
			got, err := store.DecodeHost(b, nb.build)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, rec) {
				t.Fatalf("round trip differs:\n got %+v\nwant %+v", got.Software[:min(2, len(got.Software))], rec.Software[:min(2, len(rec.Software))])
			}
			st := got.State()
			protocol.Normalize(&st)
			if h := protocol.Hash(&st); h != rec.Hash {
				t.Fatalf("rebuilt state hashes to %s, want %s", h, rec.Hash)
			}
			t.Logf("%d packages, %d services: %d bytes stored (%.1f per package)", len(rec.Software), len(rec.Services), len(b), float64(len(b))/float64(max(1, len(rec.Software))))
		})
	}
}

func TestDecodeHostCorrupt(t *testing.T) {
	nb := newBuilds()
	good, err := store.EncodeHost(goldenRecord(t, "debian12"), nb.number)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.DecodeHost(good, newBuilds().build); !errors.Is(err, store.ErrUnknownBuild) {
		t.Errorf("unknown builds: %v", err)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"not gzip":  []byte("{}"),
		"truncated": good[:len(good)/2],
	} {
		if _, err := store.DecodeHost(b, nb.build); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeHost(f *testing.F) {
	nb := newBuilds()
	for _, name := range []string{"debian12", "arch"} {
		b, err := store.EncodeHost(goldenRecord(f, name), nb.number)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := store.DecodeHost(b, nb.build)
		if err != nil {
			return
		}
		// What decodes must encode and decode to the same record.
		again, err := store.EncodeHost(rec, nb.number)
		if err != nil {
			return // e.g. a build listed twice
		}
		if _, err := store.DecodeHost(again, nb.build); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
	})
}

func TestSchema(t *testing.T) {
	cli := etcdtest.New(t)
	ctx := context.Background()
	s, err := store.New(cli, "/t/")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureSchema(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureSchema(ctx); err != nil {
		t.Fatalf("second time: %v", err)
	}
	if _, err := cli.Put(ctx, "/t/schema", "99"); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureSchema(ctx); !errors.Is(err, store.ErrSchema) {
		t.Fatalf("schema 99: %v", err)
	}
	if _, err := store.New(cli, "/no-slash"); err == nil {
		t.Fatal("prefix without a trailing slash accepted")
	}
}

// TestListPinned lists in small pages while keys change, and checks the list is the store
// at one revision.
func TestListPinned(t *testing.T) {
	cli := etcdtest.New(t)
	ctx := context.Background()
	s, _ := store.New(cli, "/p/")
	for i := range 25 {
		if _, err := s.Put(ctx, store.KindAgent, fmt.Sprintf("h%02d", i), []byte("v1"), 0); err != nil {
			t.Fatal(err)
		}
	}
	// A key outside the prefix that sorts right after it is not listed.
	if _, err := cli.Put(ctx, "/p0", "x"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	rev, err := s.List(ctx, 4, func(kv store.KV) error {
		if len(seen) == 5 {
			// Writes during the list must not show up in it.
			if _, err := cli.Put(ctx, "/p/agents/h99", "late"); err != nil {
				return err
			}
			if _, err := cli.Put(ctx, "/p/agents/h24", "v2"); err != nil {
				return err
			}
		}
		if string(kv.Value) != "v1" {
			return fmt.Errorf("%s has %q from after the list started", kv.Key, kv.Value)
		}
		seen = append(seen, kv.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 25 {
		t.Fatalf("listed %d keys, want 25", len(seen))
	}
	if rev <= 0 {
		t.Fatalf("revision %d", rev)
	}
}

func TestPutCAS(t *testing.T) {
	cli := etcdtest.New(t)
	ctx := context.Background()
	s, _ := store.New(cli, "")
	rev, err := s.Put(ctx, store.KindHost, "a", []byte("1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, store.KindHost, "a", []byte("2"), 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("create over an existing key: %v", err)
	}
	rev2, err := s.Put(ctx, store.KindHost, "a", []byte("2"), rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, store.KindHost, "a", []byte("3"), rev); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("write with a stale revision: %v", err)
	}
	kv, err := s.Get(ctx, store.KindHost, "a")
	if err != nil || string(kv.Value) != "2" || kv.ModRevision != rev2 {
		t.Fatalf("get: %+v %v", kv, err)
	}
	del := func(at int64) error {
		_, err := s.Update(ctx, "delete", []store.KV{{Key: kv.Key, ModRevision: at}}, func([]store.KV) ([]store.Write, error) {
			return []store.Write{store.Del(kv.Key)}, nil
		}, store.Attempts(1))
		return err
	}
	if err := del(rev); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete with a stale revision: %v", err)
	}
	if err := del(rev2); err != nil {
		t.Fatal(err)
	}
	if kv, _ := s.Get(ctx, store.KindHost, "a"); kv.Value != nil {
		t.Fatalf("deleted key still holds %q", kv.Value)
	}
}

// TestCreateAll creates 250 titles, some of which exist, in batches under etcd's limit of
// operations per transaction.
func TestCreateAll(t *testing.T) {
	cli := etcdtest.New(t)
	ctx := context.Background()
	s, _ := store.New(cli, "")
	for _, n := range []string{"deb/t007", "deb/t150"} {
		if _, err := s.Put(ctx, store.KindTitle, n, []byte("old"), 0); err != nil {
			t.Fatal(err)
		}
	}
	values := map[string][]byte{}
	for i := range 250 {
		values[fmt.Sprintf("deb/t%03d", i)] = []byte("new")
	}
	created, _, err := s.CreateAll(ctx, store.KindTitle, values)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 248 {
		t.Fatalf("created %d, want 248", len(created))
	}
	kv, _ := s.Get(ctx, store.KindTitle, "deb/t007")
	if string(kv.Value) != "old" {
		t.Fatalf("existing title overwritten: %q", kv.Value)
	}
}

// TestWatchCompacted checks that a watch from a compacted revision says so, so the index
// lists again.
func TestWatchCompacted(t *testing.T) {
	cli := etcdtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, _ := store.New(cli, "")
	var last int64
	for i := range 5 {
		rev, err := s.Put(ctx, store.KindAgent, fmt.Sprint(i), []byte("x"), 0)
		if err != nil {
			t.Fatal(err)
		}
		last = rev
	}
	if _, err := cli.Compact(ctx, last, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	err := s.Watch(ctx, 2, func([]store.Event, int64) error { return nil })
	if !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from a compacted revision: %v", err)
	}
	// From the current revision on, changes arrive.
	got := make(chan store.Event, 1)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go s.Watch(wctx, last+1, func(evs []store.Event, rev int64) error {
		for _, ev := range evs {
			got <- ev
		}
		return nil
	})
	if _, err := s.Put(ctx, store.KindAgent, "new", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-got:
		if ev.Key != s.Key(store.KindAgent, "new") {
			t.Fatalf("event %s", ev.Key)
		}
	case <-ctx.Done():
		t.Fatal("no event")
	}
}

// TestNumberBuilds numbers overlapping builds from two clients at once, and twice at once
// from one of them: every build gets one number, and no number is given twice.
func TestNumberBuilds(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	a, _ := store.New(srv.Client(), "")
	b, _ := store.New(srv.Dial(t), "")
	mk := func(from, to int) []store.Build {
		var out []store.Build
		for i := from; i < to; i++ {
			out = append(out, store.Build{Source: "deb", Name: fmt.Sprint("pkg", i), Arch: "amd64", Version: "1.0"})
		}
		return out
	}
	type result struct {
		kvs []store.KV
		err error
	}
	res := make(chan result, 3)
	go func() { kvs, err := a.NumberBuilds(ctx, mk(0, 300)); res <- result{kvs, err} }()
	go func() { kvs, err := a.NumberBuilds(ctx, mk(100, 200)); res <- result{kvs, err} }()
	go func() { kvs, err := b.NumberBuilds(ctx, mk(150, 450)); res <- result{kvs, err} }()
	ids := map[string]uint32{}
	for range 3 {
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		for _, kv := range r.kvs {
			bd, err := store.DecodeBuild(kv.Value)
			if err != nil {
				t.Fatal(err)
			}
			if prev, ok := ids[bd.Key()]; ok && prev != bd.ID {
				t.Fatalf("%s numbered %d and %d", bd.Name, prev, bd.ID)
			}
			ids[bd.Key()] = bd.ID
		}
	}
	seen := map[uint32]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("number %d given twice", id)
		}
		seen[id] = true
	}
	if len(ids) != 450 {
		t.Fatalf("%d builds numbered, want 450", len(ids))
	}
}

func TestStatusShard(t *testing.T) {
	seen := map[string]bool{}
	for i := range 5000 {
		seen[store.StatusShard(fmt.Sprint("host-", i))] = true
	}
	if len(seen) != store.StatusShards {
		t.Fatalf("%d shards used, want %d", len(seen), store.StatusShards)
	}
	m := map[string]store.HostStatus{"a": {LastSeen: time.Unix(100, 0).UTC(), Seq: 3}}
	b, err := store.EncodeStatus(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.DecodeStatus(b)
	if err != nil || !got["a"].LastSeen.Equal(m["a"].LastSeen) || got["a"].Seq != 3 {
		t.Fatalf("status round trip: %+v %v", got, err)
	}
}

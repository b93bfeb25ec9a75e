package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/etcdtest"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// replica is an Ingest on st. Unless watching, its index listed the store once and then
// stopped: it never sees a write by its watch, so whatever the replica reads of its own
// writes comes from its read-your-writes layer, and whatever it holds of others' is stale.
func replica(t testing.TB, st *store.Store, watching bool) *Ingest {
	t.Helper()
	ix, err := index.New(index.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ix.Run(ctx) }()
	<-ix.Ready()
	if watching {
		t.Cleanup(func() { stop(); <-done })
	} else {
		stop()
		<-done
	}
	g, err := New(Options{Store: st, Index: ix, EnrollSecret: "fleet-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func enroll(t testing.TB, g *Ingest, host string) store.Agent {
	t.Helper()
	resp, err := g.Enroll(context.Background(), &protocol.EnrollRequest{EnrollSecret: "fleet-secret-0123456789", HostID: host, Hostname: "web1"}, Peer{Addr: "127.0.0.1:1"})
	if err != nil || resp.Credential == "" {
		t.Fatalf("enroll: %+v, %v", resp, err)
	}
	a, err := g.Authenticate(context.Background(), resp.Credential)
	if err != nil {
		t.Fatalf("the credential just issued: %v", err)
	}
	return a
}

func send(t *testing.T, g *Ingest, a store.Agent, r *protocol.Report, want string) {
	t.Helper()
	resp, err := g.Report(context.Background(), a, r)
	if err != nil || resp.Status != want {
		t.Fatalf("%s report %d: %+v, %v; want %s", r.Kind, r.Seq, resp, err, want)
	}
}

// TestReadYourWrites checks, against a real etcd, what a replica sees of its own writes
// before its index does: a credential authenticates, a delta applies on the record the
// last report made and a heartbeat on the delta's, without a lost compare-and-swap; a
// deleted host's credential stops working at once. Another replica whose index is stale
// loses one compare-and-swap, and applies the report on the current record.
func TestReadYourWrites(t *testing.T) {
	st, err := store.New(etcdtest.New(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureSchema(context.Background()); err != nil {
		t.Fatal(err)
	}
	conflicts := func() float64 {
		return testutil.ToFloat64(st.Collectors()[1].(*prometheus.CounterVec).WithLabelValues("put_host"))
	}
	a := replica(t, st, false)
	b := replica(t, st, true)
	agent := enroll(t, a, "h1")

	base := []model.Package{pkg("bash", "5.2"), pkg("curl", "8.0")}
	next := append([]model.Package{pkg("nginx", "1.24")}, base...)
	send(t, a, agent, full(1, base...), protocol.StatusAccepted)
	_, first, _ := a.w.host("h1")
	send(t, a, agent, delta(2, base, next), protocol.StatusAccepted)
	send(t, a, agent, heartbeat(3, next), protocol.StatusAccepted)
	if n := conflicts(); n != 0 {
		t.Fatalf("%v lost compare-and-swaps on the replica's own records", n)
	}

	// b's index has a's writes: it applies a delta on them (one that needs no new build).
	if err := b.ix.WaitRevision(context.Background(), st.Written()); err != nil {
		t.Fatal(err)
	}
	last := next[:2]
	send(t, b, agent, delta(4, next, last), protocol.StatusAccepted)
	// a's own last write is now stale, and the delta does not apply on it: the record etcd
	// holds is read before a's answer, and the delta applies on that.
	final := append([]model.Package{pkg("zsh", "5.9")}, last...)
	send(t, a, agent, delta(5, last, final), protocol.StatusAccepted)
	// A write from a stale start: b believes the record absent (as if it had just deleted
	// it); its full report loses the compare-and-swap, whose answer brings the record, and
	// is applied on that: the same state as the record, so nothing is written.
	b.w.putHost("h1", 1<<62, store.KV{Key: st.Key(store.KindHost, "h1")}, nil)
	send(t, b, agent, full(6, final...), protocol.StatusAccepted)
	if n := conflicts(); n != 1 {
		t.Fatalf("%v lost compare-and-swaps, want 1", n)
	}
	kv, err := st.Get(context.Background(), store.KindHost, "h1")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := store.DecodeHost(kv.Value, func(id uint32) (store.Build, bool) { return a.w.build(id) })
	if err != nil || rec.Seq != 5 || len(rec.Software) != 3 || !rec.FirstReport.Equal(first.FirstReport) {
		t.Fatalf("stored record: %+v, %v", rec, err)
	}

	found, err := a.DeleteHost(context.Background(), "h1")
	if err != nil || !found {
		t.Fatalf("delete: %v, %v", found, err)
	}
	_, err = a.Authenticate(context.Background(), "h1.x")
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized {
		t.Fatalf("credential of the deleted host: %v, want 401", err)
	}
	if _, err := a.Report(context.Background(), agent, heartbeat(6, final)); err == nil {
		resp, _ := a.Report(context.Background(), agent, heartbeat(6, final))
		if resp.Status != protocol.StatusNeedFull {
			t.Fatalf("heartbeat of the deleted host: %+v, want need_full (no record)", resp)
		}
	}
}

// sameShard returns n host IDs whose statuses share one shard.
func sameShard(n int) []string {
	var ids []string
	for i := 0; len(ids) < n; i++ {
		id := fmt.Sprintf("host-%04d", i)
		if store.StatusShard(id) == store.StatusShard("host-0000") {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestStatusFlushMerges flushes the statuses of three hosts of one shard from two replicas,
// one of which holds the shard as it was before the other wrote: every host's status ends
// up in the shard.
func TestStatusFlushMerges(t *testing.T) {
	ctx := context.Background()
	st, err := store.New(etcdtest.New(t), "")
	if err != nil {
		t.Fatal(err)
	}
	a := replica(t, st, true)
	ids := sameShard(3)
	agents := map[string]store.Agent{}
	for _, id := range ids {
		agents[id] = enroll(t, a, id)
	}
	pkgs := []model.Package{pkg("bash", "5.2")}
	report := func(g *Ingest, id string) {
		r := full(1, pkgs...)
		r.HostID, r.State.Host.ID = id, id
		r.Hash = protocol.Hash(r.State)
		send(t, g, agents[id], r, protocol.StatusAccepted)
		if err := g.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	report(a, ids[0])
	if err := a.ix.WaitRevision(ctx, st.Written()); err != nil {
		t.Fatal(err)
	}
	b := replica(t, st, false) // holds the shard with ids[0] only, from now on
	report(a, ids[1])
	report(b, ids[2])
	kv, err := st.Get(ctx, store.KindStatus, store.StatusShard(ids[0]))
	if err != nil {
		t.Fatal(err)
	}
	m, err := store.DecodeStatus(kv.Value)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if s, ok := m[id]; !ok || s.Seq != 1 {
			t.Errorf("status of %s: %+v, %v", id, s, ok)
		}
	}
}

// TestPendingRecord: the record a write is committing is given to the watch by its bytes
// (the watch may deliver the write before the writer learns its revision), never for other
// bytes, and no longer once the write is answered.
func TestPendingRecord(t *testing.T) {
	w := newWritten(nil)
	rec := &store.HostRecord{HostID: "h1", Hash: "x"}
	w.pend("h1", []byte("encoded"), rec)
	if got := w.decoded("h1", 7, []byte("encoded")); got != rec {
		t.Fatalf("pending record by its bytes: %v", got)
	}
	if got := w.decoded("h1", 7, []byte("other")); got != nil {
		t.Fatalf("a record for other bytes: %v", got)
	}
	if got := w.decoded("h2", 7, []byte("encoded")); got != nil {
		t.Fatalf("another host's record: %v", got)
	}
	w.unpend("h1")
	if got := w.decoded("h1", 7, []byte("encoded")); got != nil {
		t.Fatalf("after the write was answered: %v", got)
	}
}

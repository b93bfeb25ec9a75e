package index

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// SyntheticIndex returns an index filled directly (as list would leave it) with nHosts
// synthetic hosts of perHost titles each, for the tests of the metrics: every host has its
// own OS family string, filesystems and a status, some hosts installed titles seen for the
// first time at now, and a registry of nOwners teams owns hosts by label.
func SyntheticIndex(t testing.TB, nHosts, nTitles, perHost, nOwners int, now time.Time) *Index {
	t.Helper()
	ix := benchIndex(nHosts, nTitles, perHost)
	rng := rand.New(rand.NewPCG(3, 4))
	var y strings.Builder
	y.WriteString("owners:\n  - {id: platform}\n  - {id: old, state: retired}\n")
	for i := range nOwners {
		fmt.Fprintf(&y, "  - {id: team-%d}\n", i)
	}
	y.WriteString("rules:\n  - {id: ssh, kind: service, match: {port: tcp/22}, owner: platform}\n  - {id: libs, kind: software, match: {name: \"lib*\"}, owner: old}\n")
	for i := range nOwners {
		fmt.Fprintf(&y, "  - {id: r%d, kind: host, match: {labels: {team: t%d}}, owner: team-%d}\n", i, i, i)
	}
	reg, err := owners.Load("synthetic.yaml", []byte(y.String()))
	if err != nil {
		t.Fatal(err)
	}
	regJSON, err := json.Marshal(reg)
	if err != nil {
		t.Fatal(err)
	}
	for id, h := range ix.hosts {
		i := rng.IntN(1 << 30)
		// Agents send any OS family; the metrics must not take one value per host.
		h.osFamily = fmt.Sprintf("family-%d", i)
		h.own.attrs.Labels["team"] = fmt.Sprintf("t%d", rng.IntN(nOwners+1))
		h.Summary.CPUThreads, h.Summary.MemoryBytes = 4, 8<<30
		h.filesystems = []fsSize{{"/", 100 << 30}, {"/var", 50 << 30}}
		h.Summary.DiskBytes = 150 << 30
		h.Summary.UpdatedAt = now.Add(-time.Duration(rng.IntN(600)) * time.Second)
		st := store.HostStatus{LastSeen: h.Summary.UpdatedAt, Capacity: protocol.Capacity{MemoryAvailable: 2 << 30,
			Filesystems: []protocol.FilesystemUse{{Mountpoint: "/", UsedBytes: uint64(rng.IntN(100)) << 30}, {Mountpoint: "/var", UsedBytes: 1 << 30}}}}
		shard := store.StatusShard(id)
		if ix.status[shard].hosts == nil {
			ix.status[shard] = statusShard{hosts: map[string]store.HostStatus{}}
		}
		ix.status[shard].hosts[id] = st
		// One host in ten installed a title of its own, unowned and new.
		if i%10 == 0 {
			key := fmt.Sprintf("deb:new-tool-%s", id[16:])
			tid := ix.intern(key)
			ix.titles[key] = &TitleEntry{Title: store.Title{Source: "deb", Name: "new-tool-" + id[16:], FirstSeen: now}, Catalogued: true, Hosts: 1, Installed: 1}
			h.titles = sortedSet(append(h.titles, tid))
			h.installed = []uint32{tid}
		}
	}
	ix.mu.Lock()
	ix.applyRegistry(store.Event{KV: store.KV{Key: "registry", Value: regJSON, ModRevision: 1}})
	ix.mu.Unlock()
	return ix
}

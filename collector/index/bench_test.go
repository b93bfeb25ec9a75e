package index

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/owners"
	"github.com/onus-project/onus/internal/store"
)

// benchRegistry is a registry of a few teams; owner is the owner of the software rules, so
// two values give two registries that differ in every software title's owner.
func benchRegistry(b *testing.B, owner string) []byte {
	b.Helper()
	y := `owners:
  - {id: it}
  - {id: platform, parent: it}
  - {id: web}
  - {id: dba}
  - {id: data}
  - {id: old, state: retired}
rules:
  - {id: db-hosts, kind: host, match: {labels: {role: db}}, owner: dba}
  - {id: web-hosts, kind: host, match: {labels: {role: web}}, owner: web}
  - {id: prod, kind: host, match: {labels: {env: prod}}, owner: platform}
  - {id: ci, kind: host, match: {hostname: "ci-*", os_family: debian}, owner: platform}
  - {id: libs, kind: software, match: {name: "lib*"}, owner: OWNER}
  - {id: python, kind: software, match: {source: deb, name: "python3-*"}, owner: data}
  - {id: team7, kind: software, match: {maintainer: "Team 7 *"}, owner: old}
  - {id: admin, kind: software, match: {section: admin}, owner: OWNER}
  - {id: rpms, kind: software, match: {source: rpm}, owner: platform}
  - {id: ssh, kind: service, match: {port: tcp/22}, owner: platform}
  - {id: pg, kind: service, match: {manager: systemd, name: "postgresql*"}, owner: dba}
  - {id: db-services, kind: service, match: {labels: {role: db}}, inherit: true}
`
	reg, err := owners.Load("bench.yaml", []byte(strings.ReplaceAll(y, "OWNER", owner)))
	if err != nil {
		b.Fatal(err)
	}
	kv, err := json.Marshal(reg)
	if err != nil {
		b.Fatal(err)
	}
	return kv
}

// benchIndex fills an index directly with nHosts synthetic hosts of perHost titles each
// (drawn from nTitles) and 30 services each (from a pool of 300), as list would leave it.
func benchIndex(nHosts, nTitles, perHost int) *Index {
	ix := &Index{log: slog.New(slog.DiscardHandler)}
	ix.reset()
	rng := rand.New(rand.NewPCG(1, 2))
	prefixes := []string{"lib", "python3-", "golang-", "node-", "fonts-", "linux-", "perl-", "ruby-", ""}
	sources := []string{"deb", "deb", "deb", "rpm", "apk"}
	tids := make([]uint32, nTitles)
	for i := range nTitles {
		t := store.Title{Source: sources[rng.IntN(len(sources))], Name: fmt.Sprintf("%spkg%d", prefixes[rng.IntN(len(prefixes))], i),
			PackageInfo: model.PackageInfo{Maintainer: fmt.Sprintf("Team %d <team%d@lists.example.org>", i%50, i%50),
				Section: []string{"libs", "python", "devel", "net", "admin"}[i%5]}}
		key := t.Key()
		tids[i] = ix.intern(key)
		ix.titles[key] = &TitleEntry{Title: t, Catalogued: true}
	}
	var pool []uint32
	for i := range 300 {
		var name string
		var attrs owners.ServiceAttrs
		switch {
		case i == 0:
			name, attrs = "port:tcp/22", owners.PortService("tcp", 22)
		case i < 200:
			unit := fmt.Sprintf("app-%d.service", i)
			if i < 5 {
				unit = fmt.Sprintf("postgresql@%d.service", i)
			}
			name, attrs = "systemd:"+unit, owners.UnitService("systemd", unit)
		default:
			p := uint16(1000 + i*7)
			name, attrs = fmt.Sprintf("port:tcp/%d", p), owners.PortService("tcp", p)
		}
		id := ix.intern(name)
		ix.svcAttrs[id] = attrs
		pool = append(pool, id)
	}
	roles := []string{"db", "web", "cache", "batch", "k8s-node", "kafka", "ci", "bastion"}
	for i := range nHosts {
		role := roles[rng.IntN(len(roles))]
		id := fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15)
		h := &HostEntry{Summary: Summary{ID: id, Hostname: fmt.Sprintf("%s-%05d", role, i)}}
		h.own.attrs = owners.HostAttrs{ID: id, Hostname: h.Summary.Hostname, OS: "debian", OSFamily: "debian",
			Labels: map[string]string{"role": role, "env": []string{"prod", "staging", "dev"}[rng.IntN(3)]}}
		h.titles = make([]uint32, 0, perHost)
		for range perHost {
			h.titles = append(h.titles, tids[rng.IntN(nTitles)])
		}
		h.titles = sortedSet(h.titles)
		for range 30 {
			h.services = append(h.services, pool[rng.IntN(len(pool))])
		}
		h.services = sortedSet(h.services)
		for _, t := range h.titles {
			ix.titles[ix.names[t]].Hosts++
		}
		ix.hosts[id] = h
	}
	return ix
}

// BenchmarkReresolve measures what a collector does when the ownership registry changes
// under it: the watch delivers the new registry key, and the index decodes it, builds a
// resolver and re-resolves every host, service instance and title aside, under the read
// lock, then swaps the results in under the write lock. Each iteration applies the other of
// two registries, so every software title's owner changes. A reader looks hosts up all the
// while, as reports do: max-read-wait-ms is the longest one waited.
func BenchmarkReresolve(b *testing.B) {
	for _, size := range []struct{ hosts, titles, perHost int }{{2_000, 20_000, 1_000}, {20_000, 50_000, 1_000}, {100_000, 50_000, 300}} {
		b.Run(fmt.Sprintf("hosts=%d/titles=%d/per_host=%d", size.hosts, size.titles, size.perHost), func(b *testing.B) {
			if testing.Short() && size.hosts > 2_000 {
				b.Skip("large fleet in -short mode")
			}
			ix := benchIndex(size.hosts, size.titles, size.perHost)
			ix.cond = sync.NewCond(ix.mu.RLocker())
			regs := [][]byte{benchRegistry(b, "platform"), benchRegistry(b, "web")}
			ids := make([]string, 0, len(ix.hosts))
			for id := range ix.hosts {
				ids = append(ids, id)
			}
			stop := make(chan struct{})
			waited := make(chan time.Duration)
			go func() {
				var worst time.Duration
				for i := 0; ; i++ {
					select {
					case <-stop:
						waited <- worst
						return
					default:
					}
					start := time.Now()
					ix.Host(ids[i%len(ids)])
					worst = max(worst, time.Since(start))
				}
			}()
			rev := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				rev++
				ix.takeRegistry(store.Event{KV: store.KV{Key: "registry", Value: regs[rev%2], ModRevision: rev}})
			}
			close(stop)
			worst := <-waited
			if ix.regRev != rev {
				b.Fatalf("registry revision %d, want %d: the registry was refused", ix.regRev, rev)
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-read-wait-ms")
			cov := ix.Coverage()
			b.ReportMetric(100*cov[1].Ratio, "%software-owned")
		})
	}
}

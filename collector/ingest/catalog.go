package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// The fleet's catalog: a title key per software title (created once, by whichever replica
// sees the title first, with the first report's descriptive fields) and a numbered build key
// per (source, name, arch, version), which host records list by number. Build keys are
// written before the record that needs them, so a reader that has the record can decode it.
// A title key is written before the record too, unless another request of this replica is
// creating it at that moment: the record does not need it, and that request's agent
// retries if it fails.

// catalog creates the catalog entries of the titles new to the fleet.
func (g *Ingest) catalog(ctx context.Context, r *protocol.Report, st *protocol.State, now time.Time) error {
	// A full report may bring any title; a delta only those of the packages it adds or
	// changes; a heartbeat none.
	var pkgs []model.Package
	switch {
	case r.State != nil:
		pkgs = st.Software
	case r.Delta != nil:
		pkgs = r.Delta.SoftwareUpsert
	}
	have := g.ix.Catalogued(pkgs)
	var missing []string
	for i, p := range pkgs {
		if !have[i] {
			missing = append(missing, p.Title())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	claimed := g.w.claim(missing)
	defer g.w.release(claimed)
	if len(claimed) == 0 {
		return nil
	}
	mine := make(map[string]bool, len(claimed))
	for _, t := range claimed {
		mine[t] = true
	}
	first := arrivals(r.Events, now)
	values := map[string][]byte{}
	names := map[string]string{} // key name → title
	for _, p := range pkgs {
		if !mine[p.Title()] {
			continue
		}
		delete(mine, p.Title()) // once per title (a package may be installed twice)
		// The descriptive fields come from the report (a full state, or a delta's upserts).
		t := store.Title{Source: p.Source, Name: p.Name, FirstSeen: now, FirstHost: r.HostID, PackageInfo: p.PackageInfo}
		if f, ok := first[titleRef{p.Source, p.Name}]; ok {
			t.FirstSeen = f
		}
		val, err := jsonMarshal(t)
		if err != nil {
			return err
		}
		name := store.TitleName(p.Source, p.Name)
		values[name], names[name] = val, p.Title()
	}
	created, rev, err := g.st.CreateAll(ctx, store.KindTitle, values)
	if err != nil {
		return g.storeErr("write titles", err)
	}
	done := make([]string, 0, len(values))
	for name := range values {
		done = append(done, names[name])
	}
	g.w.putTitles(done, rev)
	g.m.titles.Add(float64(len(created)))
	return nil
}

// number returns the build numbers of the installations, numbering the builds new to the
// fleet first.
func (g *Ingest) number(ctx context.Context, sw []store.Installation) (map[store.BuildRef]uint32, error) {
	ids := g.ix.BuildNumbers(sw)
	numbers := make(map[store.BuildRef]uint32, len(sw))
	var missing []store.Build
	for i, in := range sw {
		ref := in.Ref()
		if ids[i] == 0 {
			var ok bool
			if ids[i], ok = g.w.buildNumber(ref); !ok {
				missing = append(missing, store.Build{Source: in.Source, Name: in.Name, Arch: in.Arch, Version: in.Version})
				continue
			}
		}
		numbers[ref] = ids[i]
	}
	if len(missing) == 0 {
		return numbers, nil
	}
	kvs, err := g.st.NumberBuilds(ctx, missing)
	if err != nil {
		return nil, g.storeErr("number builds", err)
	}
	var rev int64
	builds := make([]store.Build, 0, len(kvs))
	for _, kv := range kvs {
		b, err := store.DecodeBuild(kv.Value)
		if err != nil {
			return nil, g.storeErr("number builds", err)
		}
		builds = append(builds, b)
		numbers[b.Ref()] = b.ID
		rev = max(rev, kv.ModRevision)
	}
	g.w.putBuilds(builds, rev)
	for _, b := range missing {
		if _, ok := numbers[b.Ref()]; !ok {
			return nil, g.storeErr("number builds", fmt.Errorf("build %s:%s %s still without a number", b.Source, b.Name, b.Version))
		}
	}
	return numbers, nil
}

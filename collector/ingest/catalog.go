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
	titles := make([]string, 0, len(st.Software))
	for _, p := range st.Software {
		titles = append(titles, p.Title())
	}
	have := g.ix.Catalogued(titles)
	if len(have) == len(titles) {
		return nil
	}
	// Descriptive fields come from the report: a full state or a delta's upserts.
	var described []model.Package
	if r.State != nil {
		described = r.State.Software
	} else if r.Delta != nil {
		described = r.Delta.SoftwareUpsert
	}
	desc := make(map[string]model.Package, len(described))
	for _, p := range described {
		desc[p.Title()] = p
	}
	var missing []string
	for _, p := range st.Software {
		if !have[p.Title()] {
			missing = append(missing, p.Title())
		}
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
	for _, p := range st.Software {
		if !mine[p.Title()] {
			continue
		}
		t := store.Title{Source: p.Source, Name: p.Name, FirstSeen: now, FirstHost: r.HostID, PackageInfo: desc[p.Title()].PackageInfo}
		if f, ok := first[p.Title()]; ok {
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
func (g *Ingest) number(ctx context.Context, sw []store.Installation) (map[string]uint32, error) {
	keys := make([]string, len(sw))
	for i, in := range sw {
		keys[i] = store.BuildKey(in.Source, in.Name, in.Arch, in.Version)
	}
	numbers := g.ix.BuildNumbers(keys)
	if len(numbers) == len(keys) {
		return numbers, nil
	}
	var missing []store.Build
	for i, in := range sw {
		if _, ok := numbers[keys[i]]; ok {
			continue
		}
		if id, ok := g.w.buildNumber(keys[i]); ok {
			numbers[keys[i]] = id
			continue
		}
		missing = append(missing, store.Build{Source: in.Source, Name: in.Name, Arch: in.Arch, Version: in.Version})
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
		numbers[b.Key()] = b.ID
		rev = max(rev, kv.ModRevision)
	}
	g.w.putBuilds(builds, rev)
	for _, k := range keys {
		if _, ok := numbers[k]; !ok {
			return nil, g.storeErr("number builds", fmt.Errorf("build %s still without a number", k))
		}
	}
	return numbers, nil
}

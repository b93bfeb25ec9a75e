package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// KindBuild holds the fleet's package builds: one (source, name, architecture, version) each,
// numbered, so that host records list small numbers instead of repeating the same names and
// versions on every host.
const KindBuild = "builds"

// buildCounter is the key that holds the highest build number handed out.
const buildCounter = "counters/builds"

// Build is one package build of the fleet.
type Build struct {
	ID      uint32 `json:"id"`
	Source  string `json:"source"`
	Name    string `json:"name"`
	Arch    string `json:"arch,omitempty"`
	Version string `json:"version"`
}

// BuildKey names a build in the store and in indexes: a hash of its identity, so any
// characters in names and versions are fine.
func BuildKey(source, name, arch, version string) string {
	h := sha256.New()
	for _, s := range []string{source, name, arch, version} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Key returns the build's key name.
func (b Build) Key() string { return BuildKey(b.Source, b.Name, b.Arch, b.Version) }

// BuildRef is a build's identity, for lookups in memory (BuildKey hashes it for the store).
type BuildRef struct{ Source, Name, Arch, Version string }

// Ref returns the build's identity.
func (b Build) Ref() BuildRef { return BuildRef{b.Source, b.Name, b.Arch, b.Version} }

// Ref returns the identity of the installation's build.
func (in Installation) Ref() BuildRef { return BuildRef{in.Source, in.Name, in.Arch, in.Version} }

// buildBlock is how many build numbers a process reserves at a time: the counter key is
// written once per block, not once per batch of new builds.
const buildBlock = 1024

// buildNumbers is a process's side of build numbering: the block of numbers it reserved,
// and the builds one of its requests is creating now, which other requests wait for rather
// than create too. Guarded by Store.numbering.
type buildNumbers struct {
	next, end uint64                  // the free numbers of the reserved block: next..end
	flights   map[string]*buildFlight // by BuildKey
}

// buildFlight is the creation of one build key by one request.
type buildFlight struct {
	done chan struct{}
	kv   KV // the key as stored, once done without err
	err  error
}

// NumberBuilds gives each build without a number in the store a number, and returns every
// one of them with its number, as the key values written or found. Numbers come from a
// block this process reserved with one compare-and-swap on the counter key, so requests,
// here and on other collectors, need not take turns: each creates the build keys it is
// the first of this process to need, in parallel batches, each create guarded by the key's
// absence, and waits for those another request is creating. A build another collector
// created first keeps the number it was given there (the transaction that lost brings it),
// and the number meant for it here is left unused.
func (s *Store) NumberBuilds(ctx context.Context, builds []Build) ([]KV, error) {
	mine, theirs, numbers, err := s.take(ctx, builds)
	if err != nil {
		return nil, err
	}
	out := make([]KV, 0, len(builds))
	var mu sync.Mutex
	err = inBatches(len(mine), func(from, to int) error {
		kvs, err := s.createBuilds(ctx, mine[from:to], numbers)
		mu.Lock()
		out = append(out, kvs...)
		mu.Unlock()
		return err
	})
	s.land(mine, out, err)
	if err != nil {
		return nil, err
	}
	for _, f := range theirs {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil {
			return nil, f.err
		}
		out = append(out, f.kv)
	}
	return out, nil
}

// take splits builds into those this request creates (with a number each) and the flights
// of those another request of this process is creating; it reserves a new block of numbers
// when the one held runs out.
func (s *Store) take(ctx context.Context, builds []Build) (mine []Build, theirs []*buildFlight, numbers map[string]uint32, err error) {
	s.numbering.Lock()
	defer s.numbering.Unlock()
	if s.numbers.flights == nil {
		s.numbers.flights = map[string]*buildFlight{}
	}
	numbers = make(map[string]uint32, len(builds))
	for _, b := range builds {
		k := b.Key()
		if _, dup := numbers[k]; dup {
			continue
		}
		if f, ok := s.numbers.flights[k]; ok {
			theirs = append(theirs, f)
			numbers[k] = 0
			continue
		}
		if s.numbers.next == 0 || s.numbers.next > s.numbers.end {
			if err := s.reserve(ctx); err != nil {
				// The flights taken so far are this request's: end them.
				s.endFlights(mine, nil, err)
				return nil, nil, nil, err
			}
		}
		numbers[k] = uint32(s.numbers.next)
		s.numbers.next++
		s.numbers.flights[k] = &buildFlight{done: make(chan struct{})}
		mine = append(mine, b)
	}
	return mine, theirs, numbers, nil
}

// land ends the flights of this request's builds with the keys as stored, or err.
func (s *Store) land(mine []Build, kvs []KV, err error) {
	s.numbering.Lock()
	defer s.numbering.Unlock()
	s.endFlights(mine, kvs, err)
}

// endFlights ends flights; the caller holds s.numbering.
func (s *Store) endFlights(mine []Build, kvs []KV, err error) {
	stored := make(map[string]KV, len(kvs))
	for _, kv := range kvs {
		_, name, _ := s.Split(kv.Key)
		stored[name] = kv
	}
	for _, b := range mine {
		k := b.Key()
		f := s.numbers.flights[k]
		if f == nil {
			continue
		}
		delete(s.numbers.flights, k)
		kv, ok := stored[k]
		switch {
		case err != nil:
			f.err = err
		case !ok || kv.Value == nil:
			f.err = fmt.Errorf("store: build %s:%s not stored", b.Source, b.Name)
		default:
			f.kv = kv
		}
		close(f.done)
	}
}

// reserve takes the next block of build numbers from the counter key, which holds the
// highest number reserved. The caller holds s.numbering.
func (s *Store) reserve(ctx context.Context) error {
	var from, to uint64
	res, err := s.Update(ctx, "reserve_builds", []KV{s.counter}, func(cur []KV) ([]Write, error) {
		from = 1
		if v := cur[0].Value; v != nil {
			n, err := strconv.ParseUint(string(v), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("store: build counter %q: %w", v, err)
			}
			from = n + 1
		}
		to = min(from+buildBlock-1, 1<<32-2)
		if from > to {
			return nil, fmt.Errorf("store: build numbers exhausted")
		}
		return []Write{Put(cur[0].Key, []byte(strconv.FormatUint(to, 10)))}, nil
	}, Attempts(20))
	if err != nil {
		s.counter = Unread(s.prefix + buildCounter)
		return err
	}
	s.counter = res.KVs[0]
	s.numbers.next, s.numbers.end = from, to
	return nil
}

// createBuilds creates the build keys of a batch that do not exist, with their numbers,
// and returns the batch's keys as they are then.
func (s *Store) createBuilds(ctx context.Context, batch []Build, numbers map[string]uint32) ([]KV, error) {
	start := make([]KV, len(batch))
	for i, b := range batch {
		start[i] = KV{Key: s.Key(KindBuild, b.Key())}
	}
	// Each lost attempt found at least one more build created elsewhere.
	res, err := s.Update(ctx, "number_builds", start, func(cur []KV) ([]Write, error) {
		var w []Write
		for i, kv := range cur {
			if kv.Value != nil {
				continue
			}
			b := batch[i]
			b.ID = numbers[b.Key()]
			val, err := json.Marshal(b)
			if err != nil {
				return nil, err
			}
			w = append(w, Put(kv.Key, val))
		}
		return w, nil
	}, Attempts(len(batch)+1))
	if err != nil {
		return nil, err
	}
	return res.KVs, nil
}

// DecodeBuild parses a build key's value.
func DecodeBuild(b []byte) (Build, error) {
	var bd Build
	if err := json.Unmarshal(b, &bd); err != nil {
		return Build{}, fmt.Errorf("build: %w", err)
	}
	if bd.ID == 0 {
		return Build{}, fmt.Errorf("build %s:%s: no number", bd.Source, bd.Name)
	}
	return bd, nil
}

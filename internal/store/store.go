// Package store keeps Onus's fleet data in etcd: enrolled agents, one compact inventory
// record per host, the fleet-wide catalog of software titles, and host liveness and capacity
// in a fixed number of shards.
//
// Key layout under the prefix (default "/onus/"):
//
//	schema                   the schema version ("1")
//	agents/<host id>         the agent's credential hash and enrollment time (JSON)
//	hosts/<host id>          the host's inventory record (columnar, gzip; see EncodeHost)
//	builds/<hash>            a package build (source, name, arch, version) and its number
//	counters/builds          the highest build number handed out
//	titles/<source>/<name>   a software title: first seen in the fleet, descriptive fields (JSON)
//	status/<00..ff>          last seen and capacity of the hosts whose ID hashes to the shard (gzip JSON)
//	enrollments/<host id>/<id>  an enrollment of an enrolled host ID awaiting an admin's decision (JSON, leased)
//
// A host record is written only when the host's inventory changes; heartbeats update the
// status shards, which the collector flushes in batches, so the write rate does not grow with
// the report rate. Every write is a compare-and-swap on the key's ModRevision (or absence)
// made by Update (update.go), and every list is paged and pinned to one revision.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// SchemaVersion is the version of the key layout and record encodings this release writes.
const SchemaVersion = "1"

// DefaultPrefix is where Onus keeps its keys unless configured otherwise.
const DefaultPrefix = "/onus/"

// ErrConflict means a compare-and-swap lost: the key changed since it was read.
var ErrConflict = errors.New("store: concurrent update")

// ErrSchema means the store holds data of a schema this release does not know.
var ErrSchema = errors.New("store: unsupported schema version")

// Kinds of keys.
const (
	KindAgent  = "agents"
	KindHost   = "hosts"
	KindTitle  = "titles"
	KindStatus = "status"
)

// maxTxnOps stays under etcd's default of 128 operations per transaction.
const maxTxnOps = 100

// Store reads and writes Onus's keys through an etcd client.
type Store struct {
	cli    *clientv3.Client
	prefix string
	// numbering guards numbers and counter, this process's build numbering (builds.go).
	numbering sync.Mutex
	numbers   buildNumbers
	// counter is the build counter as this process last wrote or read it: the next
	// reservation starts from it.
	counter KV
	// timeout bounds each request (see SetTimeout).
	timeout time.Duration
	metrics *storeMetrics
	// written is the revision of this process's newest write; recent are its writes not
	// yet reported seen (WrittenUpTo).
	written atomic.Int64
	recent  recentWrites
}

// New returns a Store using the keys under prefix ("" means DefaultPrefix).
func New(cli *clientv3.Client, prefix string) (*Store, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("store prefix %q must end in /", prefix)
	}
	return &Store{cli: cli, prefix: prefix, timeout: DefaultTimeout, metrics: newStoreMetrics(),
		counter: Unread(prefix + buildCounter)}, nil
}

// Client returns the etcd client.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.prefix }

// Key returns the full key of an item of a kind.
func (s *Store) Key(kind, name string) string { return s.prefix + kind + "/" + name }

// Split parses a full key into its kind and name; ok is false for keys outside the layout.
func (s *Store) Split(key string) (kind, name string, ok bool) {
	rest, found := strings.CutPrefix(key, s.prefix)
	if !found {
		return "", "", false
	}
	kind, name, ok = strings.Cut(rest, "/")
	return kind, name, ok && name != ""
}

// EnsureSchema writes the schema version key if the store is new, and fails with ErrSchema
// when it holds another version.
func (s *Store) EnsureSchema(ctx context.Context) error {
	key := s.prefix + "schema"
	res, err := s.Update(ctx, "schema", []KV{{Key: key}}, func(cur []KV) ([]Write, error) {
		if cur[0].Value != nil {
			return nil, nil
		}
		return []Write{Put(key, []byte(SchemaVersion))}, nil
	})
	if err != nil {
		return fmt.Errorf("store: schema: %w", err)
	}
	if got := string(res.KVs[0].Value); got != SchemaVersion {
		return fmt.Errorf("%w: the store at %s holds schema %q, this release reads %q", ErrSchema, key, got, SchemaVersion)
	}
	return nil
}

// KV is one key and value with its revisions.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// List calls fn for every key under the prefix, in pages of pageSize keys, all read at one
// revision, which it returns (the revision to watch from, minus one).
func (s *Store) List(ctx context.Context, pageSize int64, fn func(KV) error) (int64, error) {
	if pageSize <= 0 {
		pageSize = 2000
	}
	end := clientv3.GetPrefixRangeEnd(s.prefix)
	key := s.prefix
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.get(ctx, "list", key, opts...)
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := fn(KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}); err != nil {
				return 0, err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Get reads one key; a missing key gives a nil value and revision 0.
func (s *Store) Get(ctx context.Context, kind, name string) (KV, error) {
	key := s.Key(kind, name)
	resp, err := s.get(ctx, "get_"+kind, key)
	if err != nil {
		return KV{}, err
	}
	return rangeKV(key, (*pb.RangeResponse)(resp)), nil
}

// Put writes a key if its ModRevision is still modRev (0: if it does not exist): one
// compare-and-swap, through Update. It returns the new ModRevision, or an error wrapping
// ErrConflict.
func (s *Store) Put(ctx context.Context, kind, name string, value []byte, modRev int64) (int64, error) {
	key := s.Key(kind, name)
	res, err := s.Update(ctx, "put_"+kind, []KV{{Key: key, ModRevision: modRev}}, func([]KV) ([]Write, error) {
		return []Write{Put(key, value)}, nil
	}, Attempts(1))
	return res.Revision, err
}

// CreateAll writes every absent key of values (name → value) of one kind and leaves
// existing ones alone, in transactions of at most maxTxnOps keys. It returns the names it
// created and the revision of the last write (0: none).
func (s *Store) CreateAll(ctx context.Context, kind string, values map[string][]byte) ([]string, int64, error) {
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	var mu sync.Mutex
	var created []string
	var rev int64
	err := inBatches(len(names), func(from, to int) error {
		batch := names[from:to]
		// Every key is expected absent; the keys that exist come back from the transaction
		// that lost, and the next attempt leaves them out. Each lost attempt found at least
		// one more, so the batch needs at most one attempt per key and a last one.
		start := make([]KV, len(batch))
		for i, n := range batch {
			start[i] = KV{Key: s.Key(kind, n)}
		}
		var fresh []string
		res, err := s.Update(ctx, "create_"+kind, start, func(cur []KV) ([]Write, error) {
			fresh = fresh[:0]
			var w []Write
			for i, kv := range cur {
				if kv.Value == nil {
					fresh = append(fresh, batch[i])
					w = append(w, Put(kv.Key, values[batch[i]]))
				}
			}
			return w, nil
		}, Attempts(len(batch)+1))
		mu.Lock()
		defer mu.Unlock()
		created = append(created, fresh...)
		rev = max(rev, res.Revision)
		return err
	})
	return created, rev, err
}

// batchesInFlight bounds the transactions one call sends at once.
const batchesInFlight = 4

// inBatches calls fn for each batch of at most maxTxnOps of n items, up to batchesInFlight
// at once (etcd commits concurrent transactions together), and returns the first error.
func inBatches(n int, fn func(from, to int) error) error {
	if n <= maxTxnOps {
		if n == 0 {
			return nil
		}
		return fn(0, n)
	}
	sem := make(chan struct{}, batchesInFlight)
	errs := make(chan error, (n+maxTxnOps-1)/maxTxnOps)
	var wg sync.WaitGroup
	for from := 0; from < n; from += maxTxnOps {
		sem <- struct{}{}
		wg.Add(1)
		go func(from, to int) {
			defer func() { <-sem; wg.Done() }()
			errs <- fn(from, to)
		}(from, min(from+maxTxnOps, n))
	}
	wg.Wait()
	close(errs)
	var first error
	for err := range errs {
		if first == nil {
			first = err
		}
	}
	return first
}

// Event is one change seen by Watch.
type Event struct {
	KV
	Deleted bool
}

// ErrCompacted means a watch started at a revision etcd has compacted away: list again.
var ErrCompacted = errors.New("store: watch revision compacted")

// Watch calls fn for every change under the prefix from revision rev on, with the revision
// of each response once its events are applied (progress notifications included, so the
// caller's revision keeps up while nothing changes). It returns when ctx ends, on
// ErrCompacted, or when fn fails.
func (s *Store) Watch(ctx context.Context, rev int64, fn func(evs []Event, rev int64) error) error {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wc := s.cli.Watch(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithProgressNotify())
	for resp := range wc {
		if resp.CompactRevision > 0 {
			return fmt.Errorf("%w (at %d)", ErrCompacted, resp.CompactRevision)
		}
		if err := resp.Err(); err != nil {
			return classify(ctx, err)
		}
		evs := make([]Event, len(resp.Events))
		for i, ev := range resp.Events {
			evs[i] = Event{KV: KV{Key: string(ev.Kv.Key), Value: ev.Kv.Value, ModRevision: ev.Kv.ModRevision}, Deleted: ev.Type == clientv3.EventTypeDelete}
		}
		if err := fn(evs, resp.Header.Revision); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("store: watch closed")
}

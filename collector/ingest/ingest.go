package ingest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onus-project/onus/collector/index"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// Options configure an Ingest.
type Options struct {
	Store *store.Store
	Index *index.Index
	// EnrollSecret is the fleet's enroll secret; EnrollSecrets add more, all accepted (while
	// one is rolled out and another retired; see SetEnrollSecrets). None refuses every
	// enrollment.
	EnrollSecret  string
	EnrollSecrets []string
	// StatusFlushInterval is how often liveness and capacity are written (default 30 s).
	StatusFlushInterval time.Duration
	// ReenrollPolicy, PendingRetryAfter and EnrollRateLimit govern enrollments of host
	// IDs that are enrolled already, and failed enrollments (see enroll.go).
	ReenrollPolicy    ReenrollPolicy
	PendingRetryAfter time.Duration
	EnrollRateLimit   RateLimit
	Logger            *slog.Logger
	Registerer        prometheus.Registerer
	Now               func() time.Time
}

// Ingest handles agents' requests.
type Ingest struct {
	st *store.Store
	ix *index.Index
	// secrets are the accepted enroll secrets, replaced whole by SetEnrollSecrets.
	secrets atomic.Pointer[[][]byte]
	flush   time.Duration
	log     *slog.Logger
	now     func() time.Time
	locks   [1024]sync.Mutex

	mu    sync.Mutex
	dirty map[string]map[string]store.HostStatus // shard → host → status

	m   *metrics
	enr *enrollState
	// w holds this replica's writes until the index's watch brings them.
	w *written
}

// DefaultStatusFlushInterval is how often batched host statuses are written by default.
const DefaultStatusFlushInterval = 30 * time.Second

// New validates opts and returns an Ingest. It starts nothing; Run flushes statuses.
func New(opts Options) (*Ingest, error) {
	if opts.Store == nil || opts.Index == nil {
		return nil, errors.New("ingest: store and index are required")
	}
	g := &Ingest{st: opts.Store, ix: opts.Index, flush: opts.StatusFlushInterval,
		log: opts.Logger, now: opts.Now, dirty: map[string]map[string]store.HostStatus{}, w: newWritten(opts.Index)}
	g.SetEnrollSecrets(append([]string{opts.EnrollSecret}, opts.EnrollSecrets...))
	if g.flush <= 0 {
		g.flush = DefaultStatusFlushInterval
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.m = newMetrics()
	if opts.Registerer != nil {
		if err := g.m.register(opts.Registerer); err != nil {
			return nil, err
		}
	}
	opts.Index.UseDecoded(g.w.decoded)
	if err := g.initEnroll(opts); err != nil {
		return nil, err
	}
	return g, nil
}

// Error statuses for the HTTP layer.
var (
	errUnauthorized = protocol.Errorf(http.StatusUnauthorized, "unknown or revoked credential: enroll again")
	errBadSecret    = protocol.Errorf(http.StatusUnauthorized, "wrong enroll secret: not one this collector accepts (it may have been rotated)")
)

// Authenticate returns the host a credential belongs to.
func (g *Ingest) Authenticate(ctx context.Context, cred string) (store.Agent, error) {
	i := strings.LastIndexByte(cred, '.')
	if i <= 0 || len(cred) > protocol.MaxCredentialLn {
		return store.Agent{}, errUnauthorized
	}
	hostID := cred[:i]
	a, err := g.agent(ctx, hostID)
	if err != nil {
		return store.Agent{}, err
	}
	if subtle.ConstantTimeCompare([]byte(store.HashCredential(cred)), []byte(a.CredentialSHA256)) != 1 {
		return store.Agent{}, errUnauthorized
	}
	return a.Agent, nil
}

// agent returns the enrolled agent of a host ID: this replica's own enrollment or deletion
// if the index does not reflect it yet, else the index's, else (enrolled through another
// replica a moment ago) the store's.
func (g *Ingest) agent(ctx context.Context, hostID string) (index.AgentEntry, error) {
	if a, ok := g.w.agent(hostID); ok {
		if a == nil {
			return index.AgentEntry{}, errUnauthorized
		}
		return *a, nil
	}
	if a, ok := g.ix.Agent(hostID); ok {
		return a, nil
	}
	kv, err := g.st.Get(ctx, store.KindAgent, hostID)
	if err != nil {
		return index.AgentEntry{}, g.storeErr("read agent", err)
	}
	if kv.Value == nil {
		return index.AgentEntry{}, errUnauthorized
	}
	var a store.Agent
	if err := json.Unmarshal(kv.Value, &a); err != nil {
		g.log.Warn("unreadable agent key", "host_id", hostID, "err", err)
		return index.AgentEntry{}, errUnauthorized
	}
	return index.AgentEntry{Agent: a, ModRevision: kv.ModRevision}, nil
}

// lock returns the lock of a host ID (one of 1024, by hash): reports, enrollments and the
// deletion of one host run one at a time on a replica.
func (g *Ingest) lock(hostID string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(hostID))
	return &g.locks[h.Sum32()%uint32(len(g.locks))]
}

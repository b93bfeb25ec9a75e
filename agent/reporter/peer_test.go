package reporter

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/onus-project/onus/internal/protocol"
)

// conformantPeer is a protocol-conformant test peer: the smallest collector that follows the
// wire protocol's rules, built on internal/protocol's Decode, Validate, Apply and Hash. It
// stands in for onus-collector until the end-to-end tests with the real one exist, and lets a
// test inject faults: an outage (503 with Retry-After), a lost answer, a lost state or lost
// credentials.
type conformantPeer struct {
	t      testing.TB
	srv    *httptest.Server
	secret string

	mu    sync.Mutex
	creds map[string]string // credential → host ID
	hosts map[string]*peerHost
	// received lists every report that passed authentication and validation, with the
	// answer's status; events lists the events of accepted, non-duplicate reports.
	received []received
	events   []protocol.Event
	enrolls  int

	// Faults.
	down       bool   // answer reports with 503
	retryAfter string // Retry-After of those answers
	loseAnswer int    // process this many reports, then drop the connection instead of answering
	refuse     string // answer valid reports with 400 and this message
}

type peerHost struct {
	state *protocol.State
	hash  string
	seq   uint64
}

type received struct {
	report protocol.Report
	status string // accepted, duplicate, need_full, or the HTTP status when refused
}

func newPeer(t testing.TB) *conformantPeer {
	p := newUnstartedPeer(t)
	p.srv.Start()
	return p
}

// newTLSPeer serves HTTPS with a certificate of its own CA, which it writes to caFile.
func newTLSPeer(t testing.TB) (p *conformantPeer, caFile string) {
	p = newUnstartedPeer(t)
	p.srv.StartTLS()
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, caFile
}

func newUnstartedPeer(t testing.TB) *conformantPeer {
	p := &conformantPeer{t: t, secret: "s3cret", creds: map[string]string{}, hosts: map[string]*peerHost{}, retryAfter: "1"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathEnroll, p.enroll)
	mux.HandleFunc("POST "+protocol.PathReport, p.report)
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes an untrusting agent breaks off
	t.Cleanup(p.srv.Close)
	return p
}

func (p *conformantPeer) URL() string { return p.srv.URL }

func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(protocol.ErrorResponse{Error: msg})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (p *conformantPeer) enroll(w http.ResponseWriter, r *http.Request) {
	var req protocol.EnrollRequest
	lim := protocol.Limits{Compressed: protocol.MaxEnrollBytes, Decompressed: protocol.MaxEnrollBytes}
	if err := protocol.Decode(r.Body, r.Header.Get("Content-Encoding"), lim, &req); err != nil {
		var pe *protocol.Error
		errors.As(err, &pe)
		fail(w, pe.Status, pe.Msg)
		return
	}
	if err := protocol.ValidateEnroll(&req); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.EnrollSecret != p.secret {
		fail(w, http.StatusUnauthorized, "wrong enroll secret")
		return
	}
	b := make([]byte, 24)
	rand.Read(b)
	cred := hex.EncodeToString(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	// Enrolling again rotates the host's credential.
	for c, id := range p.creds {
		if id == req.HostID {
			delete(p.creds, c)
		}
	}
	p.creds[cred] = req.HostID
	p.enrolls++
	reply(w, protocol.EnrollResponse{HostID: req.HostID, Credential: cred})
}

func (p *conformantPeer) report(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		w.Header().Set("Retry-After", p.retryAfter)
		fail(w, http.StatusServiceUnavailable, "collector unavailable")
		return
	}
	hostID, ok := p.creds[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	if !ok {
		fail(w, http.StatusUnauthorized, "unknown credential")
		return
	}
	var rep protocol.Report
	if err := protocol.Decode(r.Body, r.Header.Get("Content-Encoding"), protocol.DefaultLimits, &rep); err != nil {
		var pe *protocol.Error
		errors.As(err, &pe)
		fail(w, pe.Status, pe.Msg)
		return
	}
	if rep.HostID != hostID {
		fail(w, http.StatusForbidden, "credential of another host")
		return
	}
	if err := protocol.Validate(&rep); err != nil {
		p.received = append(p.received, received{rep, "400"})
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if p.refuse != "" {
		p.received = append(p.received, received{rep, "400"})
		fail(w, http.StatusBadRequest, p.refuse)
		return
	}
	h := p.hosts[hostID]
	if h == nil {
		h = &peerHost{}
		p.hosts[hostID] = h
	}
	resp := p.apply(h, &rep)
	status := resp.Status
	if resp.Duplicate {
		status = "duplicate"
	}
	p.received = append(p.received, received{rep, status})
	if p.loseAnswer > 0 {
		p.loseAnswer--
		// The report is processed, but its answer never arrives.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	reply(w, resp)
}

// apply follows the protocol's rules for one valid report of host h.
func (p *conformantPeer) apply(h *peerHost, rep *protocol.Report) protocol.ReportResponse {
	if h.state != nil && rep.Seq <= h.seq {
		if rep.Hash == h.hash {
			return protocol.ReportResponse{Status: protocol.StatusAccepted, Hash: h.hash, Seq: h.seq, Duplicate: true}
		}
		p.t.Errorf("peer: report seq %d not above the accepted %d, with another hash", rep.Seq, h.seq)
	}
	needFull := protocol.ReportResponse{Status: protocol.StatusNeedFull, Hash: h.hash, Seq: h.seq}
	var next protocol.State
	switch rep.Kind {
	case protocol.KindFull:
		next = *rep.State
		protocol.Normalize(&next)
	case protocol.KindDelta:
		if h.state == nil || rep.BaseHash != h.hash {
			return needFull
		}
		next = protocol.Apply(h.state, rep.Delta)
	case protocol.KindHeartbeat:
		if h.state == nil || rep.BaseHash != h.hash {
			return needFull
		}
		next = *h.state
	}
	if protocol.Hash(&next) != rep.Hash {
		if rep.Kind == protocol.KindFull {
			p.t.Errorf("peer: full report seq %d does not hash to its hash", rep.Seq)
		}
		return needFull
	}
	h.state, h.hash, h.seq = &next, rep.Hash, rep.Seq
	p.events = append(p.events, rep.Events...)
	return protocol.ReportResponse{Status: protocol.StatusAccepted, Hash: h.hash, Seq: h.seq}
}

// setDown starts or ends an outage.
func (p *conformantPeer) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// forget makes the peer lose what it holds: the hosts' states (need_full follows), and with
// creds, the credentials too (401 follows).
func (p *conformantPeer) forget(creds bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hosts = map[string]*peerHost{}
	if creds {
		p.creds = map[string]string{}
	}
}

func (p *conformantPeer) reports() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.received...)
}

func (p *conformantPeer) allEvents() []protocol.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]protocol.Event(nil), p.events...)
}

func (p *conformantPeer) state(hostID string) (*protocol.State, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.hosts[hostID]; h != nil {
		return h.state, h.seq
	}
	return nil, 0
}

func (p *conformantPeer) enrollCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.enrolls
}

// kinds lists the reports received as "kind:status", e.g. "full:accepted".
func kinds(rs []received) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.report.Kind + ":" + r.status
	}
	return out
}

func seqs(rs []received) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = strconv.FormatUint(r.report.Seq, 10)
	}
	return out
}

// Package spool keeps onus-agent's reporting state on disk, so that an agent restart, a
// collector outage or both lose nothing that was collected.
//
// Layout of the state directory (mode 0700, every file 0600, every rewrite atomic: temporary
// file, fsync, rename, fsync of the directory):
//
//	credential.json    the per-host credential from enrollment: {host_id, credential, enrolled_at};
//	                   kept after a 401, as the proof a re-enrollment of the host ID needs
//	enrollment.json    the enrollment in progress: its token (kept before the first request,
//	                   so a retry after a lost answer is recognized) and, once the collector
//	                   holds it for an admin's decision, its ID
//	accepted.json.gz   the last state the collector accepted, with its hash and report seq
//	base.json.gz       the software (and source statuses) the event journal leads to: the
//	                   base the next collection's install/remove events are computed against
//	journal.jsonl      install/remove events not yet carried by any report, one JSON object a
//	                   line, appended and fsync'd; bounded, the oldest dropped (and counted)
//	pending.json.gz    the report in flight when it carries events: resent as it is (same seq,
//	                   same events) until the collector answers, so a lost answer never turns
//	                   into events delivered twice
//	seq                the last report sequence number used
//
// Events move from the journal into a pending report when one is built, and leave the
// spool when the collector accepts that report. Journal entries carry increasing ids; the
// base records the last id it reflects, and the pending report the last id it carries, so
// that the files can be reconciled after a crash between two writes: entries a report
// already carries are dropped, entries appended without their base are rolled back (the next
// collection derives them again, install times included, from the database).
//
// A file that cannot be decoded is moved aside to <name>.corrupt with a warning and the
// agent starts without it: without an accepted state, the next report is a full one.
package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// File names in the state directory.
const (
	CredentialFile = "credential.json"
	EnrollmentFile = "enrollment.json"
	AcceptedFile   = "accepted.json.gz"
	BaseFile       = "base.json.gz"
	JournalFile    = "journal.jsonl"
	PendingFile    = "pending.json.gz"
	SeqFile        = "seq"
)

// DefaultJournalMax is the default bound on events waiting for the collector.
const DefaultJournalMax = 10000

// Caps on what is read back: a state of 50,000 packages is about 20 MiB of JSON.
var fileLimits = protocol.Limits{Compressed: 128 << 20, Decompressed: 512 << 20}

const maxSmallFile = 64 << 10

// Options configure a Spool.
type Options struct {
	// Dir is the state directory; it is created (0700) when missing.
	Dir string
	// JournalMax bounds the events kept for the collector, journal and pending report
	// together (DefaultJournalMax when 0; at most protocol.MaxEvents).
	JournalMax int
	// Logger receives warnings about corrupt files and dropped events; nil discards.
	Logger *slog.Logger
}

// Credential is the per-host credential enrollment returned.
type Credential struct {
	HostID     string    `json:"host_id"`
	Credential string    `json:"credential"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

// Enrollment is the agent's enrollment in progress: the token it presents, kept before the
// first request so that a retry after a lost answer is recognized, and, once the collector
// holds the enrollment for an admin's decision, its ID; the token claims the approval, so it
// outlives a restart of the agent.
type Enrollment struct {
	HostID      string    `json:"host_id"`
	ID          string    `json:"id"`
	Token       string    `json:"token"`
	RequestedAt time.Time `json:"requested_at"`
}

// Accepted is the last state the collector accepted.
type Accepted struct {
	Format     int            `json:"format"`
	HostID     string         `json:"host_id"`
	Seq        uint64         `json:"seq"`
	Hash       string         `json:"hash"`
	AcceptedAt time.Time      `json:"accepted_at"`
	State      protocol.State `json:"state"`
}

// Base is the software the journal leads to: the previous collection's, which the next
// collection's events are computed against.
type Base struct {
	Format int `json:"format"`
	// JournalID is the id of the last journal entry this base reflects.
	JournalID uint64               `json:"journal_id"`
	Software  []model.Package      `json:"software"`
	Sources   []model.SourceStatus `json:"sources"`
}

// Pending is a report in flight that carries events.
type Pending struct {
	Format int `json:"format"`
	// Upto is the id of the last journal entry the report carries.
	Upto   uint64          `json:"upto"`
	Report protocol.Report `json:"report"`
}

const format = 1

// Spool is the agent's state directory. It is not safe for concurrent use.
type Spool struct {
	dir string
	max int
	log *slog.Logger

	cred     *Credential
	enroll   *Enrollment
	accepted *Accepted
	base     *Base
	pending  *Pending
	journal  []entry // entries no report carries yet, ids increasing
	nextID   uint64
	seq      uint64
}

// Open creates the state directory if needed and loads what it holds, reconciling the
// files (see the package documentation). Unreadable or corrupt files are moved aside with a
// warning; only a directory that cannot be created or read is an error.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: no state directory")
	}
	if opts.JournalMax == 0 {
		opts.JournalMax = DefaultJournalMax
	}
	if opts.JournalMax < 0 || opts.JournalMax > protocol.MaxEvents {
		return nil, fmt.Errorf("spool: journal bound %d out of range 1..%d", opts.JournalMax, protocol.MaxEvents)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if _, err := os.ReadDir(opts.Dir); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: opts.Dir, max: opts.JournalMax, log: opts.Logger}
	s.load()
	return s, nil
}

// Dir returns the state directory.
func (s *Spool) Dir() string { return s.dir }

func (s *Spool) load() {
	var cred Credential
	if s.readJSON(CredentialFile, &cred) {
		if cred.Credential == "" || !protocol.ValidHostID(cred.HostID) {
			s.quarantine(CredentialFile, errors.New("no credential or host ID in it"))
		} else {
			s.cred = &cred
		}
	}
	var enr Enrollment
	if s.readJSON(EnrollmentFile, &enr) {
		if enr.Token == "" || !protocol.ValidHostID(enr.HostID) {
			s.quarantine(EnrollmentFile, errors.New("no token or host ID in it"))
		} else {
			s.enroll = &enr
		}
	}
	var acc Accepted
	if s.readGzip(AcceptedFile, &acc) {
		if err := checkAccepted(&acc); err != nil {
			s.quarantine(AcceptedFile, err)
		} else {
			s.accepted = &acc
		}
	}
	var base Base
	if s.readGzip(BaseFile, &base) {
		if base.Format != format {
			s.quarantine(BaseFile, fmt.Errorf("format %d, want %d", base.Format, format))
		} else {
			s.base = &base
		}
	}
	var p Pending
	if s.readGzip(PendingFile, &p) {
		if err := checkPending(&p); err != nil {
			s.quarantine(PendingFile, err)
		} else {
			s.pending = &p
		}
	}
	s.seq = s.readSeq()
	var headerNext uint64
	s.journal, headerNext = s.readJournal()

	rewrite := false
	if s.pending != nil && s.accepted != nil && s.pending.Report.Seq <= s.accepted.Seq {
		// The collector accepted it; the agent stopped before forgetting it.
		upto := s.pending.Upto
		s.pending = nil
		if err := s.remove(PendingFile); err != nil {
			s.log.Warn("spool: removing an accepted pending report", "err", err)
		}
		rewrite = s.dropUpto(upto) || rewrite
	}
	if s.pending != nil {
		// Entries a pending report carries may still be in the journal if the agent stopped
		// between writing the report and trimming the journal.
		rewrite = s.dropUpto(s.pending.Upto) || rewrite
	}
	last := uint64(0)
	switch {
	case s.base != nil:
		last = s.base.JournalID
	case s.pending != nil:
		last = s.pending.Upto
	}
	var rolled int
	s.journal = slices.DeleteFunc(s.journal, func(e entry) bool {
		if e.ID > last {
			rolled++
			return true
		}
		return false
	})
	if rolled > 0 {
		s.log.Warn("spool: journal entries without a matching base rolled back; the next collection derives them again",
			"entries", rolled)
		rewrite = true
	}
	s.nextID = max(headerNext, last+1, 1)
	if s.pending != nil {
		s.nextID = max(s.nextID, s.pending.Upto+1)
		s.seq = max(s.seq, s.pending.Report.Seq)
	}
	if n := len(s.journal); n > 0 {
		s.nextID = max(s.nextID, s.journal[n-1].ID+1)
	}
	if s.accepted != nil {
		s.seq = max(s.seq, s.accepted.Seq)
	}
	if rewrite {
		if err := s.writeJournal(); err != nil {
			s.log.Warn("spool: rewriting the journal", "err", err)
		}
	}
}

func checkAccepted(a *Accepted) error {
	switch {
	case a.Format != format:
		return fmt.Errorf("format %d, want %d", a.Format, format)
	case !protocol.ValidHostID(a.HostID):
		return errors.New("bad host ID")
	case a.Seq == 0:
		return errors.New("no sequence number")
	}
	protocol.Normalize(&a.State)
	if h := protocol.Hash(&a.State); h != a.Hash {
		return fmt.Errorf("state hash %s does not match the recorded %s", h, a.Hash)
	}
	return nil
}

func checkPending(p *Pending) error {
	if p.Format != format {
		return fmt.Errorf("format %d, want %d", p.Format, format)
	}
	if err := protocol.Validate(&p.Report); err != nil {
		return err
	}
	return nil
}

// Credential returns the stored credential.
func (s *Spool) Credential() (Credential, bool) {
	if s.cred == nil {
		return Credential{}, false
	}
	return *s.cred, true
}

// SaveCredential stores the credential (mode 0600).
func (s *Spool) SaveCredential(c Credential) error {
	b, err := jsonBytes(c)
	if err != nil {
		return err
	}
	if err := s.write(CredentialFile, b); err != nil {
		return err
	}
	s.cred = &c
	return nil
}

// RemoveCredential forgets the credential (the collector no longer knows it).
func (s *Spool) RemoveCredential() error {
	s.cred = nil
	return s.remove(CredentialFile)
}

// Enrollment returns the enrollment held for a decision, if any.
func (s *Spool) Enrollment() (Enrollment, bool) {
	if s.enroll == nil {
		return Enrollment{}, false
	}
	return *s.enroll, true
}

// SaveEnrollment stores the enrollment held for a decision (mode 0600).
func (s *Spool) SaveEnrollment(e Enrollment) error {
	b, err := jsonBytes(e)
	if err != nil {
		return err
	}
	if err := s.write(EnrollmentFile, b); err != nil {
		return err
	}
	s.enroll = &e
	return nil
}

// RemoveEnrollment forgets the enrollment (claimed, or of another host ID).
func (s *Spool) RemoveEnrollment() error {
	if s.enroll == nil {
		return nil
	}
	s.enroll = nil
	return s.remove(EnrollmentFile)
}

// Accepted returns the last state the collector accepted, or nil.
func (s *Spool) Accepted() *Accepted { return s.accepted }

// SaveAccepted records the state the collector accepted. Save it before ClearPending: a
// pending report whose seq is not above the accepted one is known to be accepted.
func (s *Spool) SaveAccepted(a *Accepted) error {
	a.Format = format
	b, err := protocol.Marshal(a)
	if err != nil {
		return err
	}
	s.accepted = a
	return s.write(AcceptedFile, b)
}

// Base returns the software the journal leads to, or nil.
func (s *Spool) Base() *Base { return s.base }

// Pending returns the report in flight that carries events, or nil.
func (s *Spool) Pending() *Pending { return s.pending }

// SavePending records a report about to be sent, which carries the journal's entries up to
// p.Upto (every entry Journal returned), and removes those entries from the journal. It
// replaces an earlier pending report, whose events the new one must carry too.
func (s *Spool) SavePending(p *Pending) error {
	p.Format = format
	b, err := protocol.Marshal(p)
	if err != nil {
		return err
	}
	s.pending = p
	werr := s.write(PendingFile, b)
	if s.dropUpto(p.Upto) {
		if err := s.writeJournal(); err != nil && werr == nil {
			werr = err
		}
	}
	return werr
}

// ClearPending forgets the pending report once the collector accepted it (after
// SaveAccepted).
func (s *Spool) ClearPending() error {
	if s.pending == nil {
		return nil
	}
	s.pending = nil
	return s.remove(PendingFile)
}

// NextSeq returns a new report sequence number, above every one used before, and records
// it.
func (s *Spool) NextSeq() (uint64, error) {
	s.seq++
	return s.seq, s.write(SeqFile, []byte(strconv.FormatUint(s.seq, 10)+"\n"))
}

// SkipSeq makes the sequence numbers continue above seq, when the collector has accepted
// higher ones than the spool remembers.
func (s *Spool) SkipSeq(seq uint64) error {
	if seq <= s.seq {
		return nil
	}
	s.seq = seq
	return s.write(SeqFile, []byte(strconv.FormatUint(s.seq, 10)+"\n"))
}

// Waiting returns how many events wait for the collector, in the journal and the pending
// report.
func (s *Spool) Waiting() int {
	n := 0
	if s.pending != nil {
		n = len(s.pending.Report.Events)
	}
	for _, e := range s.journal {
		if e.Event != nil {
			n++
		}
	}
	return n
}

func (s *Spool) readSeq() uint64 {
	b, err := s.read(SeqFile)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		s.quarantine(SeqFile, err)
		return 0
	}
	return n
}

// read reads a small file; a missing one is fs.ErrNotExist, an unreadable one is moved
// aside.
func (s *Spool) read(name string) ([]byte, error) {
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.quarantine(name, err)
		}
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(limitReader(f, maxSmallFile)); err != nil {
		s.quarantine(name, err)
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s *Spool) readJSON(name string, v any) bool {
	b, err := s.read(name)
	if err != nil {
		return false
	}
	if err := protocol.Decode(bytes.NewReader(b), "", protocol.Limits{Compressed: maxSmallFile, Decompressed: maxSmallFile}, v); err != nil {
		s.quarantine(name, err)
		return false
	}
	return true
}

func (s *Spool) readGzip(name string, v any) bool {
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.quarantine(name, err)
		}
		return false
	}
	defer f.Close()
	if err := protocol.Decode(f, "gzip", fileLimits, v); err != nil {
		s.quarantine(name, err)
		return false
	}
	return true
}

// quarantine moves a file that cannot be used aside, so that the agent can start without it
// and a person can still look at it.
func (s *Spool) quarantine(name string, why error) {
	p := filepath.Join(s.dir, name)
	err := os.Rename(p, p+".corrupt")
	s.log.Warn("spool: corrupt state file moved aside", "file", p, "moved_to", p+".corrupt", "reason", why, "err", err)
}

func (s *Spool) remove(name string) error {
	err := os.Remove(filepath.Join(s.dir, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(s.dir)
}

// write replaces a file atomically: a temporary file in the same directory, fsync'd,
// renamed over the old one, then the directory fsync'd.
func (s *Spool) write(name string, data []byte) error {
	return writeAtomic(s.dir, name, data)
}

func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

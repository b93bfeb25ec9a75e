package spool

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// maxJournalBytes caps the journal file that is read back: 100,000 events of a few hundred
// bytes each.
const maxJournalBytes = 256 << 20

// entry is one line of the journal: an event, a count of events dropped to keep the journal
// within its bound, or (first line of a rewritten journal) the next id to use.
type entry struct {
	ID      uint64          `json:"id,omitempty"`
	Event   *protocol.Event `json:"event,omitempty"`
	Dropped int             `json:"dropped,omitempty"`
	NextID  uint64          `json:"next_id,omitempty"`
}

// Record appends the events of one collection to the journal and records the collected
// software and source statuses as the new base. Nothing is written when nothing changed.
// When the journal and the pending report together would hold more than the bound, the
// oldest journal events are dropped and counted; Record returns how many it dropped.
func (s *Spool) Record(events []protocol.Event, software []model.Package, sources []model.SourceStatus) (dropped int, err error) {
	if len(events) == 0 && s.base != nil && slices.EqualFunc(s.base.Software, software, pkgEqual) &&
		slices.Equal(s.base.Sources, sources) {
		return 0, nil
	}
	added := make([]entry, len(events))
	for i := range events {
		ev := events[i]
		added[i] = entry{ID: s.nextID, Event: &ev}
		s.nextID++
	}
	s.journal = append(s.journal, added...)
	room := s.max
	if s.pending != nil {
		room -= len(s.pending.Report.Events)
	}
	if excess := s.eventCount() - max(room, 0); excess > 0 {
		kept := s.journal[:0]
		for _, e := range s.journal {
			if e.Event != nil && dropped < excess {
				dropped++
				continue
			}
			kept = append(kept, e)
		}
		s.journal = kept
	}
	var jerr error
	if dropped > 0 {
		// Fold every drop count into one entry with a new id, so that the report that
		// carries the journal up to it also carries the count.
		total := dropped
		s.journal = slices.DeleteFunc(s.journal, func(e entry) bool {
			total += e.Dropped
			return e.Event == nil
		})
		s.journal = append(s.journal, entry{ID: s.nextID, Dropped: total})
		s.nextID++
		s.log.Warn("spool: event journal full, oldest events dropped (the collector gets the count, the state stays exact)",
			"dropped", dropped, "bound", s.max)
		jerr = s.writeJournal()
	} else if len(added) > 0 {
		jerr = s.appendJournal(added)
	}
	// The base is written after the journal: should the agent stop in between, the new
	// entries are rolled back at the next start and derived again from this base.
	base := &Base{Format: format, JournalID: s.nextID - 1, Software: software, Sources: sources}
	b, err := protocol.Marshal(base)
	if err == nil {
		err = s.write(BaseFile, b)
	}
	s.base = base
	return dropped, errors.Join(jerr, err)
}

func pkgEqual(a, b model.Package) bool { return a.Equal(&b) }

// Journal returns the events no report carries yet, oldest first, the count of events
// dropped in the meantime, and the id of the last entry (0 when the journal is empty).
func (s *Spool) Journal() (events []protocol.Event, dropped int, upto uint64) {
	for _, e := range s.journal {
		if e.Event != nil {
			events = append(events, *e.Event)
		}
		dropped += e.Dropped
		upto = e.ID
	}
	return events, dropped, upto
}

func (s *Spool) eventCount() int {
	n := 0
	for _, e := range s.journal {
		if e.Event != nil {
			n++
		}
	}
	return n
}

// dropUpto removes the journal entries with ids up to upto; it says whether it removed any.
func (s *Spool) dropUpto(upto uint64) bool {
	n := len(s.journal)
	s.journal = slices.DeleteFunc(s.journal, func(e entry) bool { return e.ID <= upto })
	return len(s.journal) != n
}

// readJournal reads the journal file, keeping every line that decodes. A torn last line
// (the agent stopped while appending) is expected and dropped; any other bad line means the
// file is corrupt: it is moved aside and what could be read is written back.
func (s *Spool) readJournal() (entries []entry, nextID uint64) {
	p := filepath.Join(s.dir, JournalFile)
	f, err := os.Open(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.quarantine(JournalFile, err)
		}
		return nil, 0
	}
	data, err := io.ReadAll(limitReader(f, maxJournalBytes))
	f.Close()
	if err != nil {
		s.quarantine(JournalFile, err)
		return nil, 0
	}
	bad, torn := 0, false
	var lastID uint64
	for len(data) > 0 {
		line, rest, complete := bytes.Cut(data, []byte("\n"))
		data = rest
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e entry
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		err := dec.Decode(&e)
		switch {
		case err != nil && !complete:
			torn = true
		case err != nil, e.ID == 0 && e.NextID == 0, e.ID != 0 && e.ID <= lastID,
			e.ID != 0 && (e.Event == nil) == (e.Dropped == 0), e.Dropped < 0:
			bad++
		case e.ID == 0:
			nextID = max(nextID, e.NextID)
		default:
			entries = append(entries, e)
			lastID = e.ID
		}
	}
	switch {
	case bad > 0:
		s.quarantine(JournalFile, errors.New("undecodable lines"))
		s.log.Warn("spool: journal salvaged", "kept", len(entries), "bad_lines", bad)
	case torn:
		s.log.Info("spool: dropped the journal's incomplete last line")
	default:
		return entries, nextID
	}
	s.journal = entries
	s.nextID = max(nextID, lastID+1)
	if err := s.writeJournal(); err != nil {
		s.log.Warn("spool: rewriting the journal", "err", err)
	}
	return entries, nextID
}

// writeJournal rewrites the journal file from memory, starting with the next id so that ids
// keep increasing even when the journal is empty.
func (s *Spool) writeJournal() error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(entry{NextID: s.nextID}); err != nil {
		return err
	}
	for _, e := range s.journal {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return s.write(JournalFile, buf.Bytes())
}

// appendJournal appends entries to the journal file and fsyncs it.
func (s *Spool) appendJournal(es []entry) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, e := range es {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(filepath.Join(s.dir, JournalFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// limitReader reads at most n bytes and then fails, so that an oversize file is refused
// rather than cut.
func limitReader(r io.Reader, n int64) io.Reader {
	return &limited{r: r, n: n}
}

type limited struct {
	r io.Reader
	n int64
}

var errTooLarge = errors.New("file over the size limit")

func (l *limited) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errTooLarge
	}
	return n, err
}

func jsonBytes(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func event(name string) protocol.Event {
	return protocol.Event{Type: protocol.EventInstalled, Source: "deb", Name: name, Version: "1.0", Time: t0, DetectedAt: t0}
}

func software(names ...string) []model.Package {
	var out []model.Package
	for _, n := range names {
		out = append(out, model.Package{Source: "deb", Name: n, Version: "1.0"})
	}
	return out
}

func open(t *testing.T, dir string, max int) *Spool {
	t.Helper()
	s, err := Open(Options{Dir: dir, JournalMax: max})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func names(evs []protocol.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Name)
	}
	return out
}

func record(t *testing.T, s *Spool, evs []protocol.Event, sw []model.Package) int {
	t.Helper()
	dropped, err := s.Record(evs, sw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dropped
}

// report returns a valid heartbeat report carrying the spool's journal.
func report(s *Spool, seq uint64) *Pending {
	evs, dropped, upto := s.Journal()
	h := strings.Repeat("ab", 32)
	return &Pending{Upto: upto, Report: protocol.Report{HostID: "h1", Seq: seq, Kind: protocol.KindHeartbeat, BaseHash: h, Hash: h,
		Events: evs, EventsDropped: dropped}}
}

func TestJournalLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := open(t, dir, 0)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state directory %v, %v", fi, err)
	}
	record(t, s, nil, software("a"))
	record(t, s, []protocol.Event{event("b")}, software("a", "b"))
	record(t, s, []protocol.Event{event("c")}, software("a", "b", "c"))

	s = open(t, dir, 0)
	evs, dropped, upto := s.Journal()
	if !slices.Equal(names(evs), []string{"b", "c"}) || dropped != 0 || upto != 2 {
		t.Fatalf("journal after reopening: %v, %d dropped, upto %d", names(evs), dropped, upto)
	}
	if b := s.Base(); b == nil || b.JournalID != 2 || len(b.Software) != 3 {
		t.Fatalf("base %+v", b)
	}

	seq, err := s.NextSeq()
	if err != nil || seq != 1 {
		t.Fatalf("NextSeq = %d, %v", seq, err)
	}
	if err := s.SavePending(report(s, seq)); err != nil {
		t.Fatal(err)
	}
	record(t, s, []protocol.Event{event("d")}, software("a", "b", "c", "d"))
	s = open(t, dir, 0)
	if p := s.Pending(); p == nil || !slices.Equal(names(p.Report.Events), []string{"b", "c"}) {
		t.Fatalf("pending %+v", p)
	}
	if evs, _, _ := s.Journal(); !slices.Equal(names(evs), []string{"d"}) {
		t.Fatalf("journal %v besides the pending report", names(evs))
	}
	if s.Waiting() != 3 {
		t.Errorf("Waiting = %d", s.Waiting())
	}

	// Accepted, then the agent stops before removing the pending report.
	if err := s.SaveAccepted(&Accepted{HostID: "h1", Seq: 1, Hash: protocol.Hash(&protocol.State{}), AcceptedAt: t0}); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, 0)
	if s.Pending() != nil {
		t.Error("an accepted pending report survived a restart")
	}
	if evs, _, _ := s.Journal(); !slices.Equal(names(evs), []string{"d"}) {
		t.Errorf("journal %v", names(evs))
	}
	if seq, _ := s.NextSeq(); seq != 2 {
		t.Errorf("NextSeq after a restart = %d, want 2", seq)
	}
	// Ids keep increasing across an emptied journal.
	if err := s.SavePending(report(s, 2)); err != nil {
		t.Fatal(err)
	}
	record(t, s, []protocol.Event{event("e")}, software("a", "b", "c", "d", "e"))
	s = open(t, dir, 0)
	if _, _, upto := s.Journal(); upto <= 3 {
		t.Errorf("journal id %d reused", upto)
	}
}

func TestJournalBound(t *testing.T) {
	s := open(t, t.TempDir(), 3)
	var sw []string
	total := 0
	for i := range 5 {
		n := fmt.Sprint("p", i)
		sw = append(sw, n)
		total += record(t, s, []protocol.Event{event(n)}, software(sw...))
	}
	evs, dropped, _ := s.Journal()
	if total != 2 || dropped != 2 || !slices.Equal(names(evs), []string{"p2", "p3", "p4"}) {
		t.Fatalf("journal %v, dropped %d (returned %d)", names(evs), dropped, total)
	}
	// A pending report's events count against the bound but are never dropped.
	if err := s.SavePending(report(s, 1)); err != nil {
		t.Fatal(err)
	}
	total = record(t, s, []protocol.Event{event("x"), event("y")}, software(append(sw, "x", "y")...))
	evs, dropped, _ = s.Journal()
	if total != 2 || dropped != 2 || len(evs) != 0 || len(s.Pending().Report.Events) != 3 {
		t.Errorf("journal %v, %d dropped (returned %d), pending %v", names(evs), dropped, total, names(s.Pending().Report.Events))
	}
	s = open(t, s.Dir(), 3)
	if _, dropped, _ := s.Journal(); dropped != 2 {
		t.Errorf("dropped count after a restart: %d", dropped)
	}
}

func TestTornAndRolledBackJournal(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	record(t, s, []protocol.Event{event("a")}, software("a"))
	f, err := os.OpenFile(filepath.Join(dir, JournalFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// An entry whose base was never written (the agent stopped in between), then a torn line.
	fmt.Fprintf(f, `{"id":2,"event":{"type":"installed","source":"deb","name":"b","version":"1","time":"2026-03-01T12:00:00Z","detected_at":"2026-03-01T12:00:00Z"}}`+"\n"+`{"id":3,"eve`)
	f.Close()
	s = open(t, dir, 0)
	if evs, _, upto := s.Journal(); !slices.Equal(names(evs), []string{"a"}) || upto != 1 {
		t.Errorf("journal %v upto %d, want a only", names(evs), upto)
	}
	if _, err := os.Stat(filepath.Join(dir, JournalFile+".corrupt")); err == nil {
		t.Error("a torn line made the journal corrupt")
	}
	record(t, s, []protocol.Event{event("c")}, software("a", "c"))
	s = open(t, dir, 0)
	if evs, _, _ := s.Journal(); !slices.Equal(names(evs), []string{"a", "c"}) {
		t.Errorf("journal %v after appending to a repaired one", names(evs))
	}
}

func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		CredentialFile: "{", AcceptedFile: "not gzip", BaseFile: "\x1f\x8b\x08", PendingFile: "", SeqFile: "x",
		JournalFile: "garbage\n{\"id\":1,\"event\":{\"type\":\"installed\"}}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, dir, 0)
	if _, ok := s.Credential(); ok || s.Accepted() != nil || s.Base() != nil || s.Pending() != nil || s.Waiting() != 0 {
		t.Errorf("corrupt files were used")
	}
	for _, name := range []string{CredentialFile, AcceptedFile, BaseFile, PendingFile, SeqFile, JournalFile} {
		if _, err := os.Stat(filepath.Join(dir, name+".corrupt")); err != nil {
			t.Errorf("%s not moved aside: %v", name, err)
		}
	}
	// An accepted state whose hash does not match is corrupt too.
	if err := s.SaveAccepted(&Accepted{HostID: "h1", Seq: 1, Hash: strings.Repeat("0", 64)}); err != nil {
		t.Fatal(err)
	}
	if s = open(t, dir, 0); s.Accepted() != nil {
		t.Error("an accepted state with a wrong hash was used")
	}
}

func TestCredential(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	c := Credential{HostID: "h1", Credential: "secret", EnrolledAt: t0}
	if err := s.SaveCredential(c); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, CredentialFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential file %v, %v", fi, err)
	}
	if got, ok := open(t, dir, 0).Credential(); !ok || got != c {
		t.Errorf("credential %+v, %v", got, ok)
	}
	if err := s.RemoveCredential(); err != nil {
		t.Fatal(err)
	}
	if _, ok := open(t, dir, 0).Credential(); ok {
		t.Error("removed credential still there")
	}
}

func TestEnrollment(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	if _, ok := s.Enrollment(); ok {
		t.Fatal("an enrollment in a new state directory")
	}
	e := Enrollment{HostID: "h1", ID: "0a1b2c3d4e5f6071", Token: "token", RequestedAt: t0}
	if err := s.SaveEnrollment(e); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, EnrollmentFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("enrollment file %v, %v", fi, err)
	}
	if got, ok := open(t, dir, 0).Enrollment(); !ok || got != e {
		t.Errorf("enrollment %+v, %v", got, ok)
	}
	if err := s.RemoveEnrollment(); err != nil {
		t.Fatal(err)
	}
	if _, ok := open(t, dir, 0).Enrollment(); ok {
		t.Error("removed enrollment still there")
	}
	// A damaged file is moved aside, not trusted.
	os.WriteFile(filepath.Join(dir, EnrollmentFile), []byte(`{"host_id":"../x","token":"t"}`), 0o600)
	if _, ok := open(t, dir, 0).Enrollment(); ok {
		t.Error("an enrollment with a bad host ID was used")
	}
	if _, err := os.Stat(filepath.Join(dir, EnrollmentFile+".corrupt")); err != nil {
		t.Errorf("bad enrollment file not moved aside: %v", err)
	}
}

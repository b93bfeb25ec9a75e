package store_test

import (
	"fmt"
	"testing"

	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/store"
)

// BenchmarkEncodeHost is the cost of the stored form of a host record (debian12, 779
// packages), which every report that changes an inventory writes: bytes/record is its size,
// which the collector's memory holds per host.
func BenchmarkEncodeHost(b *testing.B) {
	rec := goldenRecord(b, "debian12")
	nb := newBuilds()
	enc, err := store.EncodeHost(rec, nb.number)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := store.EncodeHost(rec, nb.number); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)), "bytes/record")
}

// BenchmarkDecodeHost is a record's decoding, as the index does for each host it lists.
func BenchmarkDecodeHost(b *testing.B) {
	rec := goldenRecord(b, "debian12")
	nb := newBuilds()
	enc, err := store.EncodeHost(rec, nb.number)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := store.DecodeHostUnordered(enc, nb.build); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodedState is a delta's starting point on a replica that did not write the
// record itself: a stored record of 1,200 packages decoded in build-number order, its state
// normalized.
func BenchmarkDecodedState(b *testing.B) {
	rec := goldenRecord(b, "debian12")
	base := rec.Software
	for i := len(base); i < 1200; i++ {
		in := base[i%len(base)]
		in.Name = fmt.Sprintf("%s-extra%d", in.Name, i)
		rec.Software = append(rec.Software, in)
	}
	nb := newBuilds()
	// Number the builds in reverse, as a fleet's other hosts may have: the stored order is
	// then not the package order.
	for i := len(rec.Software) - 1; i >= 0; i-- {
		nb.number(rec.Software[i])
	}
	enc, err := store.EncodeHost(rec, nb.number)
	if err != nil {
		b.Fatal(err)
	}
	got, err := store.DecodeHostUnordered(enc, nb.build)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		st := got.State()
		protocol.Normalize(&st)
	}
}

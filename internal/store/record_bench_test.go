package store_test

import (
	"testing"

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

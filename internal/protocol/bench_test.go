package protocol

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

// bigInventory is the debian12 fixture grown to n packages, the size of a busy server.
func bigInventory(tb testing.TB, n int) *model.Inventory {
	inv := fixture.Golden(tb, "debian12")
	base := inv.Software
	for i := len(base); i < n; i++ {
		p := base[i%len(base)]
		p.Name = fmt.Sprintf("%s-extra%d", p.Name, i)
		inv.Software = append(inv.Software, p)
	}
	return inv
}

// BenchmarkStateHash is what each side does with a full report: split off the capacity,
// normalize, hash.
func BenchmarkStateHash(b *testing.B) {
	inv := bigInventory(b, 1200)
	b.ReportAllocs()
	for b.Loop() {
		st, _ := FromInventory(inv)
		_ = Hash(&st)
	}
}

// BenchmarkDecodeValidate is the collector's cost of reading a full report's body.
func BenchmarkDecodeValidate(b *testing.B) {
	inv := bigInventory(b, 1200)
	body, err := Marshal(reportFor(b, inv))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var r Report
		if err := Decode(bytesReader(body), "gzip", DefaultLimits, &r); err != nil {
			b.Fatal(err)
		}
		if err := Validate(&r); err != nil {
			b.Fatal(err)
		}
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// BenchmarkCleanReport is what cleaning adds to each full report on the collector (and to
// each pass on the agent, in FromInventory): clean text, the common case, is only scanned.
func BenchmarkCleanReport(b *testing.B) {
	r := reportFor(b, bigInventory(b, 1200))
	b.ReportAllocs()
	for b.Loop() {
		if n := CleanReport(r); n != nil {
			b.Fatal(n)
		}
	}
}

// BenchmarkCleanReportDirty is a report whose every package summary must be escaped.
func BenchmarkCleanReportDirty(b *testing.B) {
	inv := bigInventory(b, 1200)
	for i := range inv.Software {
		inv.Software[i].Summary += "\x1b[31m"
	}
	st, _ := FromInventory(inv)
	dirty := slices.Clone(inv.Software)
	b.ReportAllocs()
	for b.Loop() {
		st.Software = append(st.Software[:0], dirty...)
		CleanState(&st)
	}
}

// BenchmarkApply is the collector's application of a delta of 3 changed packages to a
// stored state of 1,200.
func BenchmarkApply(b *testing.B) {
	old, _ := FromInventory(bigInventory(b, 1200))
	next, _ := FromInventory(bigInventory(b, 1200))
	next.Software = slices.Clone(next.Software)
	for i := 0; i < 3; i++ {
		next.Software[i*400].Version += "+upd1"
	}
	Normalize(&next)
	d := Diff(&old, &next)
	if got := Apply(&old, d); Hash(&got) != Hash(&next) {
		b.Fatal("the delta does not make the new state")
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = Apply(&old, d)
	}
}

package source

import (
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/onus-project/onus/internal/protocol"
)

// Clip returns b cut to at most max bytes, at a character boundary so that a valid UTF-8
// value stays valid.
func Clip(b []byte, max int) []byte {
	if len(b) <= max {
		return b
	}
	n := max
	for n > 0 && n > max-utf8.UTFMax && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n]
}

// Text returns b as text a report can carry in a field of at most max bytes: control
// characters escaped, invalid UTF-8 replaced, an over-long value cut with a marker, all as
// protocol.CleanText does, which the collector applies again. Whatever bytes a package
// database, unit file or process name holds, the report is never refused for them.
func Text(b []byte, max int) string {
	// Only the first max bytes can survive, plus enough to know that the value was cut.
	return protocol.CleanText(string(b[:min(len(b), max+utf8.UTFMax)]), max)
}

// Interner shares the strings that repeat across the records of one database (architectures,
// maintainers, sections, licenses), so 2,000 packages do not allocate 2,000 copies of
// "x86_64". The zero value is not usable: make one with make(source.Interner).
type Interner map[string]string

// String returns b, cleaned with Text to max bytes, as a shared string.
func (in Interner) String(b []byte, max int) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := Text(b, max)
	k := s // the common case: the text was clean, one string serves as key and value
	if s != string(b) {
		k = string(b)
	}
	in[k] = s
	return s
}

// Labels returns labels a report can carry: at most protocol.MaxLabels of them, in key
// order, each key valid as protocol.ValidLabelKey requires and each value cleaned with Text to
// protocol.MaxFieldLen bytes. dropped counts the labels left out (an invalid key, or over the
// limit), for the source's skipped count. It returns nil for no labels.
func Labels(in map[string]string) (out map[string]string, dropped int) {
	keys := slices.Sorted(maps.Keys(in))
	for _, k := range keys {
		if !protocol.ValidLabelKey(k) || len(out) == protocol.MaxLabels {
			dropped++
			continue
		}
		if out == nil {
			out = make(map[string]string, min(len(in), protocol.MaxLabels))
		}
		out[k] = Text([]byte(in[k]), protocol.MaxFieldLen)
	}
	return out, dropped
}

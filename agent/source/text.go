package source

import "unicode/utf8"

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

// Interner shares the strings that repeat across the records of one database (architectures,
// maintainers, sections, licenses), so 2,000 packages do not allocate 2,000 copies of
// "x86_64". The zero value is not usable: make one with make(source.Interner).
type Interner map[string]string

// String returns b, clipped to max bytes, as a shared string.
func (in Interner) String(b []byte, max int) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(Clip(b, max))
	in[s] = s
	return s
}

package main

import (
	"bufio"
	"io"
)

// indentWriter indents the compact JSON written to it as json.Indent does (two spaces, no
// prefix), as the bytes arrive: printing an inventory holds its compact encoding once,
// not also an indented copy of it.
type indentWriter struct {
	w       *bufio.Writer
	depth   int
	inStr   bool
	escaped bool
	open    byte // a '{' or '[' whose newline waits for the next byte: "[]" stays as it is
}

func newIndentWriter(w io.Writer) *indentWriter {
	return &indentWriter{w: bufio.NewWriterSize(w, 32<<10)}
}

func (iw *indentWriter) newline() {
	iw.w.WriteByte('\n')
	for i := 0; i < iw.depth; i++ {
		iw.w.WriteString("  ")
	}
}

// Write implements io.Writer. Its input is valid compact JSON, as encoding/json writes it.
func (iw *indentWriter) Write(b []byte) (int, error) {
	for _, c := range b {
		if iw.open != 0 {
			open := iw.open
			iw.open = 0
			if c == ']' && open == '[' || c == '}' && open == '{' {
				iw.w.WriteByte(c)
				continue
			}
			iw.depth++
			iw.newline()
		}
		if iw.inStr {
			iw.w.WriteByte(c)
			switch {
			case iw.escaped:
				iw.escaped = false
			case c == '\\':
				iw.escaped = true
			case c == '"':
				iw.inStr = false
			}
			continue
		}
		switch c {
		case '"':
			iw.inStr = true
			iw.w.WriteByte(c)
		case '{', '[':
			iw.w.WriteByte(c)
			iw.open = c
		case '}', ']':
			iw.depth--
			iw.newline()
			iw.w.WriteByte(c)
		case ',':
			iw.w.WriteByte(c)
			iw.newline()
		case ':':
			iw.w.WriteString(": ")
		case ' ', '\t', '\r':
		default:
			iw.w.WriteByte(c)
		}
	}
	return len(b), nil
}

// Flush writes what is buffered.
func (iw *indentWriter) Flush() error { return iw.w.Flush() }

package rpm

import (
	"fmt"
	"slices"
	"strings"
)

// This file decodes the records of sqlite's tables (https://www.sqlite.org/fileformat.html,
// "Record Format") and finds tables, and their columns, in the schema.

// recordColumn returns column col of a record: its serial type and, for text and blobs,
// its bytes.
func recordColumn(rec []byte, col int) (serial uint64, val []byte, err error) {
	hlen, n := uvarint(rec)
	if n == 0 || hlen > uint64(len(rec)) || hlen < uint64(n) {
		return 0, nil, fmt.Errorf("%w: record header", ErrMalformed)
	}
	hdr := rec[n:hlen]
	body := rec[hlen:]
	for i := 0; ; i++ {
		st, m := uvarint(hdr)
		if m == 0 {
			return 0, nil, fmt.Errorf("%w: record has no column %d", ErrMalformed, col)
		}
		hdr = hdr[m:]
		size, ok := serialSize(st)
		if !ok || size > uint64(len(body)) {
			return 0, nil, fmt.Errorf("%w: record column %d", ErrMalformed, i)
		}
		if i == col {
			return st, body[:size], nil
		}
		body = body[size:]
	}
}

// serialSize is the length of a value of sqlite serial type st.
func serialSize(st uint64) (uint64, bool) {
	switch {
	case st <= 4:
		return st, true // NULL, then 1-4 byte integers
	case st == 5:
		return 6, true
	case st == 6 || st == 7:
		return 8, true
	case st == 8 || st == 9:
		return 0, true
	case st >= 12:
		return (st - 12) / 2, true
	}
	return 0, false
}

// intValue decodes an integer column.
func intValue(st uint64, v []byte) (int64, bool) {
	switch {
	case st >= 1 && st <= 6:
		n := int64(int8(v[0]))
		for _, c := range v[1:] {
			n = n<<8 | int64(c)
		}
		return n, true
	case st == 8:
		return 0, true
	case st == 9:
		return 1, true
	}
	return 0, false
}

// isText and isBlob report a column's storage class from its serial type.
func isText(st uint64) bool { return st >= 13 && st%2 == 1 }
func isBlob(st uint64) bool { return st >= 12 && st%2 == 0 }

// tableRoot finds the root page of the table called name in the schema.
func (db *sqliteDB) tableRoot(name string) (uint32, error) {
	var root uint32
	_, err := db.scanTable(1, func(rec []byte) error {
		st, typ, err := recordColumn(rec, 0)
		if err != nil || !isText(st) || string(typ) != "table" {
			return nil
		}
		st, n, err := recordColumn(rec, 1)
		if err != nil || !isText(st) || string(n) != name {
			return nil
		}
		st, v, err := recordColumn(rec, 3)
		if err != nil {
			return err
		}
		r, ok := intValue(st, v)
		if !ok || r <= 0 || r > int64(db.nPages) {
			return fmt.Errorf("%w: table %s has root page %d", ErrMalformed, name, r)
		}
		root = uint32(r)
		return errStop
	})
	if err != nil {
		return 0, err
	}
	if root == 0 {
		return 0, fmt.Errorf("%w: no %s table", ErrMalformed, name)
	}
	return root, nil
}

// value is one column of a row.
type value struct {
	kind byte // 0 NULL, 'i' integer, 't' text, 'b' blob, 'f' real
	n    int64
	b    []byte // text and blob bytes
}

// decodeRecord decodes the first len(out) columns of a record into out; the columns a record
// lacks (rows written before ALTER TABLE ADD COLUMN) are NULL.
func decodeRecord(rec []byte, out []value) error {
	clear(out)
	hlen, n := uvarint(rec)
	if n == 0 || hlen > uint64(len(rec)) || hlen < uint64(n) {
		return fmt.Errorf("%w: record header", ErrMalformed)
	}
	hdr := rec[n:hlen]
	body := rec[hlen:]
	for i := range out {
		if len(hdr) == 0 {
			return nil
		}
		st, m := uvarint(hdr)
		if m == 0 {
			return fmt.Errorf("%w: record header", ErrMalformed)
		}
		hdr = hdr[m:]
		size, ok := serialSize(st)
		if !ok || size > uint64(len(body)) {
			return fmt.Errorf("%w: record column %d", ErrMalformed, i)
		}
		v := body[:size]
		body = body[size:]
		switch {
		case st == 0:
		case st == 7:
			out[i].kind = 'f'
		case isText(st):
			out[i] = value{kind: 't', b: v}
		case isBlob(st):
			out[i] = value{kind: 'b', b: v}
		default:
			out[i].n, _ = intValue(st, v)
			out[i].kind = 'i'
		}
	}
	return nil
}

// table is a table of the schema: its root page and its columns.
type table struct {
	root  uint32
	cols  []string // lower case
	rowid int      // the column that is an alias of the rowid (INTEGER PRIMARY KEY), or -1
}

// maxSchemaSQL bounds the CREATE TABLE statement parsed for a table's columns.
const maxSchemaSQL = 64 << 10

// tables returns the tables of the schema named in names (lower case), by name; those the
// schema lacks are missing from the map.
func (db *sqliteDB) tables(names ...string) (map[string]table, error) {
	out := make(map[string]table, len(names))
	var row [5]value
	_, err := db.scanTable(1, func(rec []byte) error {
		if decodeRecord(rec, row[:]) != nil || string(row[0].b) != "table" {
			return nil
		}
		name := strings.ToLower(string(row[1].b))
		if !slices.Contains(names, name) {
			return nil
		}
		if row[3].kind != 'i' || row[3].n <= 0 || row[3].n > int64(db.nPages) {
			return fmt.Errorf("%w: table %s has root page %d", ErrMalformed, name, row[3].n)
		}
		if len(row[4].b) > maxSchemaSQL {
			return fmt.Errorf("%w: table %s: schema of %d bytes", ErrMalformed, name, len(row[4].b))
		}
		cols, rowid := parseColumns(string(row[4].b))
		if len(cols) == 0 {
			return fmt.Errorf("%w: table %s: no columns in %q", ErrMalformed, name, row[4].b)
		}
		out[name] = table{root: uint32(row[3].n), cols: cols, rowid: rowid}
		return nil
	})
	return out, err
}

// columns returns the index of each column named in names, or an error naming the first
// the table lacks.
func (t table) columns(names ...string) ([]int, error) {
	idx := make([]int, len(names))
	for i, n := range names {
		if idx[i] = slices.Index(t.cols, n); idx[i] < 0 {
			return nil, fmt.Errorf("%w: no column %s", ErrMalformed, n)
		}
	}
	return idx, nil
}

// rowReader decodes the wanted columns of a table's rows.
type rowReader struct {
	t    table
	idx  []int
	all  []value
	vals []value
}

func newRowReader(t table, names ...string) (*rowReader, error) {
	idx, err := t.columns(names...)
	if err != nil {
		return nil, err
	}
	return &rowReader{t: t, idx: idx, all: make([]value, slices.Max(idx)+1), vals: make([]value, len(idx))}, nil
}

// read returns the wanted columns of the row, valid until the next call; the rowid alias
// column holds the rowid.
func (r *rowReader) read(rowid int64, rec []byte) ([]value, error) {
	if err := decodeRecord(rec, r.all); err != nil {
		return nil, err
	}
	for i, c := range r.idx {
		r.vals[i] = r.all[c]
		if c == r.t.rowid && r.vals[i].kind == 0 {
			r.vals[i] = value{kind: 'i', n: rowid}
		}
	}
	return r.vals, nil
}

// parseColumns returns the column names (lower case) of a CREATE TABLE statement, and which
// of them is the rowid's alias: the one INTEGER column that is the PRIMARY KEY, declared on
// the column or as the table's constraint. It understands what sqlite's own parser needs to
// find them: quoted names ("", “, [] and ”), comments, and nested parentheses.
func parseColumns(sql string) (cols []string, rowid int) {
	defs := splitDefs(sql)
	rowid = -1
	var types []string
	pk := ""
	for _, d := range defs {
		name, rest := firstToken(d)
		if name == "" {
			continue
		}
		switch up := strings.ToUpper(name); {
		case !quoted(d) && (up == "CONSTRAINT" || up == "PRIMARY" || up == "UNIQUE" || up == "CHECK" || up == "FOREIGN"):
			if i := strings.Index(strings.ToUpper(d), "PRIMARY KEY"); i >= 0 {
				if inner, ok := parenthesized(d[i+len("PRIMARY KEY"):]); ok && !strings.Contains(inner, ",") {
					pk, _ = firstToken(inner)
					pk = strings.ToLower(pk)
				}
			}
			continue
		}
		typ, _ := firstToken(rest)
		cols = append(cols, strings.ToLower(unquote(name)))
		types = append(types, strings.ToUpper(typ))
		if strings.Contains(strings.ToUpper(rest), "PRIMARY KEY") && types[len(types)-1] == "INTEGER" {
			rowid = len(cols) - 1
		}
	}
	if pk != "" {
		if i := slices.Index(cols, strings.ToLower(unquote(pk))); i >= 0 && types[i] == "INTEGER" {
			rowid = i
		}
	}
	return cols, rowid
}

// splitDefs returns the comma-separated definitions between the outer parentheses of a
// CREATE TABLE statement, comments removed.
func splitDefs(sql string) []string {
	var (
		defs  []string
		cur   strings.Builder
		depth int
	)
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
			c = ' '
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			if end := strings.Index(sql[i+2:], "*/"); end >= 0 {
				i += end + 3 // the comment's closing '/'
			} else {
				i = len(sql)
			}
			c = ' '
		case c == '"' || c == '`' || c == '\'' || c == '[':
			closer := c
			if c == '[' {
				closer = ']'
			}
			j := i + 1
			for j < len(sql) && sql[j] != closer {
				j++
			}
			if depth > 0 {
				cur.WriteString(sql[i:min(j+1, len(sql))])
			}
			i = j
			continue
		}
		switch {
		case c == '(':
			depth++
			if depth == 1 {
				continue
			}
		case c == ')':
			depth--
			if depth == 0 {
				return append(defs, cur.String())
			}
		case c == ',' && depth == 1:
			defs = append(defs, cur.String())
			cur.Reset()
			continue
		}
		if depth > 0 {
			cur.WriteByte(c)
		}
	}
	return nil // no closing parenthesis
}

// firstToken returns the first name or word of s, quotes kept, and what follows it.
func firstToken(s string) (tok, rest string) {
	s = strings.TrimLeft(s, " \t\r\n")
	if s == "" {
		return "", ""
	}
	if closer, ok := quoteCloser(s[0]); ok {
		if j := strings.IndexByte(s[1:], closer); j >= 0 {
			return s[:j+2], s[j+2:]
		}
		return s, ""
	}
	j := strings.IndexAny(s, " \t\r\n(,")
	if j < 0 {
		return s, ""
	}
	return s[:j], s[j:]
}

func quoteCloser(c byte) (byte, bool) {
	switch c {
	case '"', '`', '\'':
		return c, true
	case '[':
		return ']', true
	}
	return 0, false
}

// quoted reports whether the definition d starts with a quoted name.
func quoted(d string) bool {
	d = strings.TrimLeft(d, " \t\r\n")
	_, ok := quoteCloser(d[0])
	return ok
}

// unquote removes the quotes of a quoted name.
func unquote(tok string) string {
	if len(tok) >= 2 {
		if closer, ok := quoteCloser(tok[0]); ok && tok[len(tok)-1] == closer {
			return tok[1 : len(tok)-1]
		}
	}
	return tok
}

// parenthesized returns what is inside the parentheses s starts with.
func parenthesized(s string) (string, bool) {
	s = strings.TrimLeft(s, " \t\r\n")
	if !strings.HasPrefix(s, "(") {
		return "", false
	}
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return "", false
	}
	return s[1:end], true
}

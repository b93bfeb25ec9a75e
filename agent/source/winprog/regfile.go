package winprog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Bounds of a .reg file.
const (
	MaxRegFile = 64 << 20
	maxRegKeys = 1 << 20
)

// RegFile is a registry read from .reg files as `reg export` and regedit write them: the
// fixtures of the source's tests, and a way to inventory an exported registry. It implements
// Registry. HKLM\SOFTWARE in View32 is HKLM\SOFTWARE\WOW6432Node, as on 64-bit Windows.
//
// A .reg file has no last write times; a comment line ";lastwrite=<RFC 3339 time>" right
// after a key's header gives that key one (regedit reads it as a comment).
type RegFile struct {
	keys map[string]*regKey // by lower-cased full path, "HKEY_LOCAL_MACHINE\SOFTWARE"
}

type regKey struct {
	name    string // the last element as written
	subkeys map[string]string
	key     Key
}

// hiveNames are the hives a .reg file may name, with the abbreviations reg.exe accepts.
var hiveNames = map[string]string{
	"hkey_local_machine": "HKEY_LOCAL_MACHINE", "hklm": "HKEY_LOCAL_MACHINE",
	"hkey_users": "HKEY_USERS", "hku": "HKEY_USERS",
	"hkey_current_user": "HKEY_CURRENT_USER", "hkcu": "HKEY_CURRENT_USER",
	"hkey_classes_root": "HKEY_CLASSES_ROOT", "hkcr": "HKEY_CLASSES_ROOT",
	"hkey_current_config": "HKEY_CURRENT_CONFIG", "hkcc": "HKEY_CURRENT_CONFIG",
}

// NewRegFile returns an empty registry; Add reads .reg files into it.
func NewRegFile() *RegFile { return &RegFile{keys: map[string]*regKey{}} }

// ParseReg reads one .reg file into a new registry.
func ParseReg(b []byte) (*RegFile, error) {
	r := NewRegFile()
	return r, r.Add(b)
}

// Add reads one .reg file: "Windows Registry Editor Version 5.00" (UTF-16LE with a byte
// order mark, as regedit and reg export write it, or UTF-8) or REGEDIT4 (whose hex(2) and
// hex(7) strings are single bytes). Its keys are added to r and its values replace those of
// the same names; "[-key]" deletes a key and "name"=- a value. A line that is none of these
// fails the file with its line number.
func (r *RegFile) Add(b []byte) error {
	if len(b) > MaxRegFile {
		return fmt.Errorf(".reg file of %d bytes, more than %d", len(b), MaxRegFile)
	}
	text, err := decodeRegText(b)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var wide bool
	switch strings.TrimSpace(lines[0]) {
	case "Windows Registry Editor Version 5.00":
		wide = true
	case "REGEDIT4":
	default:
		return errors.New(".reg file: no REGEDIT4 or \"Windows Registry Editor Version 5.00\" header")
	}
	var cur *regKey
	for i := 1; i < len(lines); i++ {
		line, n := joinContinued(lines, i)
		lineNo := i + 1
		i += n
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
		case strings.HasPrefix(trimmed, ";"):
			if t, ok := strings.CutPrefix(trimmed, ";lastwrite="); ok && cur != nil {
				when, err := time.Parse(time.RFC3339, t)
				if err != nil {
					return fmt.Errorf(".reg line %d: %v", lineNo, err)
				}
				cur.key.LastWrite = when.UTC()
			}
		case strings.HasPrefix(trimmed, "["):
			if !strings.HasSuffix(trimmed, "]") {
				return fmt.Errorf(".reg line %d: key header without ]", lineNo)
			}
			path := trimmed[1 : len(trimmed)-1]
			if p, del := strings.CutPrefix(path, "-"); del {
				if err := r.delete(p); err != nil {
					return fmt.Errorf(".reg line %d: %v", lineNo, err)
				}
				cur = nil
				continue
			}
			if cur, err = r.create(path); err != nil {
				return fmt.Errorf(".reg line %d: %v", lineNo, err)
			}
		default:
			if cur == nil {
				return fmt.Errorf(".reg line %d: a value outside a key", lineNo)
			}
			name, v, del, err := parseRegValue(trimmed, wide)
			if err != nil {
				return fmt.Errorf(".reg line %d: %v", lineNo, err)
			}
			if del {
				delete(cur.key.Values, strings.ToLower(name))
			} else {
				cur.key.Values[strings.ToLower(name)] = v
			}
		}
	}
	return nil
}

// decodeRegText returns the text of a .reg file: UTF-16LE after its byte order mark, else
// UTF-8 (a byte order mark dropped).
func decodeRegText(b []byte) (string, error) {
	if bytes.HasPrefix(b, []byte{0xff, 0xfe}) {
		b = b[2:]
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return string(utf16.Decode(u)), nil
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(b) {
		return "", errors.New(".reg file: neither UTF-16LE with a byte order mark nor UTF-8")
	}
	return string(b), nil
}

// joinContinued returns line i with the lines a trailing backslash continues it onto (hex
// data, which regedit wraps at 80 columns), and how many lines were joined.
func joinContinued(lines []string, i int) (string, int) {
	line := strings.TrimRight(lines[i], " \t")
	if strings.HasPrefix(strings.TrimSpace(line), "[") || strings.HasPrefix(strings.TrimSpace(line), ";") {
		return line, 0
	}
	n := 0
	for strings.HasSuffix(line, "\\") && isHexValue(line) && i+n+1 < len(lines) {
		n++
		line = line[:len(line)-1] + strings.TrimSpace(lines[i+n])
	}
	return line, n
}

// isHexValue reports whether a value line holds hex data (the only data that continues).
func isHexValue(line string) bool {
	_, data, ok := splitRegName(strings.TrimSpace(line))
	return ok && strings.HasPrefix(strings.ToLower(data), "hex")
}

// splitPath splits a full key path into its hive's canonical name and the rest.
func splitPath(path string) (hive, rest string, err error) {
	h, rest, _ := strings.Cut(path, `\`)
	hive, ok := hiveNames[strings.ToLower(h)]
	if !ok {
		return "", "", fmt.Errorf("unknown hive %q", h)
	}
	rest = strings.Trim(rest, `\`)
	if strings.Contains(rest, `\\`) {
		return "", "", fmt.Errorf("empty key name in %q", path)
	}
	return hive, rest, nil
}

// create returns the key at path, making it and its parents as needed.
func (r *RegFile) create(path string) (*regKey, error) {
	hive, rest, err := splitPath(path)
	if err != nil {
		return nil, err
	}
	full := hive
	k := r.node(full, hive)
	if rest == "" {
		return k, nil
	}
	for _, elem := range strings.Split(rest, `\`) {
		parent := k
		full += `\` + elem
		if k = r.keys[strings.ToLower(full)]; k == nil {
			if len(r.keys) >= maxRegKeys {
				return nil, fmt.Errorf("more than %d keys", maxRegKeys)
			}
			k = r.node(full, elem)
		}
		parent.subkeys[strings.ToLower(elem)] = k.name
	}
	return k, nil
}

func (r *RegFile) node(full, name string) *regKey {
	lk := strings.ToLower(full)
	if k := r.keys[lk]; k != nil {
		return k
	}
	k := &regKey{name: name, subkeys: map[string]string{}, key: Key{Values: map[string]Value{}}}
	r.keys[lk] = k
	return k
}

// delete removes the key at path and everything under it.
func (r *RegFile) delete(path string) error {
	hive, rest, err := splitPath(path)
	if err != nil {
		return err
	}
	full := strings.ToLower(hive + `\` + rest)
	for k := range r.keys {
		if k == full || strings.HasPrefix(k, full+`\`) {
			delete(r.keys, k)
		}
	}
	if i := strings.LastIndexByte(full, '\\'); i > 0 {
		if parent := r.keys[full[:i]]; parent != nil {
			delete(parent.subkeys, full[i+1:])
		}
	}
	return nil
}

// splitRegName splits `"name"=data` (or `@=data`, the default value) at its "=".
func splitRegName(line string) (name, data string, ok bool) {
	if rest, ok := strings.CutPrefix(line, "@="); ok {
		return "", rest, true
	}
	if !strings.HasPrefix(line, `"`) {
		return "", "", false
	}
	name, n, ok := unquote(line)
	if !ok || n >= len(line) || line[n] != '=' {
		return "", "", false
	}
	return name, line[n+1:], true
}

// unquote reads the quoted string s starts with, regedit's escapes \\ and \" undone (and
// \n, \r, \0 as Wine writes them); n is the length read.
func unquote(s string) (string, int, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, true
		case '\\':
			if i+1 == len(s) {
				return "", 0, false
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// parseRegValue parses one value line; del is true for "name"=-.
func parseRegValue(line string, wide bool) (name string, v Value, del bool, err error) {
	name, data, ok := splitRegName(line)
	if !ok {
		return "", v, false, errors.New("not a value, a key or a comment")
	}
	data = strings.TrimSpace(data)
	lower := strings.ToLower(data)
	switch {
	case data == "-":
		return name, v, true, nil
	case strings.HasPrefix(data, `"`):
		s, n, ok := unquote(data)
		if !ok || strings.TrimSpace(data[n:]) != "" {
			return "", v, false, errors.New("unterminated string")
		}
		return name, Value{Type: TypeString, Data: utf16Data(s)}, false, nil
	case strings.HasPrefix(lower, "dword:"):
		n, err := strconv.ParseUint(data[len("dword:"):], 16, 32)
		if err != nil || len(data) > len("dword:")+8 {
			return "", v, false, fmt.Errorf("bad dword %q", data)
		}
		return name, Value{Type: TypeDWord, Data: binary.LittleEndian.AppendUint32(nil, uint32(n))}, false, nil
	case strings.HasPrefix(lower, "hex"):
		typ, hex, err := splitHexType(data)
		if err != nil {
			return "", v, false, err
		}
		b, err := parseHexBytes(hex)
		if err != nil {
			return "", v, false, err
		}
		if !wide && (typ == TypeExpand || typ == TypeMultiSZ) {
			b = widen(b)
		}
		return name, Value{Type: typ, Data: b}, false, nil
	}
	return "", v, false, fmt.Errorf("unknown value data %q", clip(data, 40))
}

// splitHexType splits "hex:..." (REG_BINARY) or "hex(N):..." into its type and data.
func splitHexType(data string) (uint32, string, error) {
	rest := data[3:]
	if hex, ok := strings.CutPrefix(rest, ":"); ok {
		return TypeBinary, hex, nil
	}
	t, hex, ok := strings.Cut(rest, "):")
	if !ok || !strings.HasPrefix(t, "(") {
		return 0, "", fmt.Errorf("bad hex value %q", clip(data, 40))
	}
	typ, err := strconv.ParseUint(t[1:], 16, 32)
	if err != nil {
		return 0, "", fmt.Errorf("bad hex type %q", clip(t, 20))
	}
	return uint32(typ), hex, nil
}

func parseHexBytes(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return []byte{}, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxValueBytes {
		return nil, fmt.Errorf("hex value of more than %d bytes", maxValueBytes)
	}
	out := make([]byte, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" && len(out) == len(parts)-1 {
			break // a trailing comma
		}
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) > 2 {
			return nil, fmt.Errorf("bad hex byte %q", clip(p, 10))
		}
		out = append(out, byte(n))
	}
	return out, nil
}

// widen turns REGEDIT4's single-byte string data into UTF-16LE, each byte a Latin-1
// character.
func widen(b []byte) []byte {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, c, 0)
	}
	return out
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (r *RegFile) lookup(h Hive, path string, v View) *regKey {
	hive := "HKEY_LOCAL_MACHINE"
	if h == Users {
		hive = "HKEY_USERS"
	}
	path = strings.Trim(path, `\`)
	if h == LocalMachine && v == View32 {
		if rest, ok := cutFold(path, `SOFTWARE`); ok && (rest == "" || rest[0] == '\\') {
			path = `SOFTWARE\WOW6432Node` + rest
		}
	}
	full := hive
	if path != "" {
		full += `\` + path
	}
	return r.keys[strings.ToLower(full)]
}

func cutFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// SubKeys implements Registry, in name order.
func (r *RegFile) SubKeys(h Hive, path string, v View) ([]string, error) {
	k := r.lookup(h, path, v)
	if k == nil {
		return nil, ErrNotExist
	}
	out := make([]string, 0, len(k.subkeys))
	for _, name := range k.subkeys {
		out = append(out, name)
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out, nil
}

// Key implements Registry.
func (r *RegFile) Key(h Hive, path string, v View) (Key, error) {
	k := r.lookup(h, path, v)
	if k == nil {
		return Key{}, ErrNotExist
	}
	return k.key, nil
}

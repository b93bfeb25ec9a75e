package flatpak

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// KeyFile is a GLib key file (flatpak's metadata, installations.d/*.conf, an ostree repo's
// config): groups of key=value lines. Only the untranslated keys are kept (Name, not
// Name[de]), the first value of each key in each group.
type KeyFile map[string]map[string]string

// Bounds of the key file reader.
const (
	MaxKeyFile = 64 << 10
	maxGroups  = 256
	maxKeys    = 1024
)

// Get returns the value of key in group.
func (k KeyFile) Get(group, key string) string { return k[group][key] }

// ParseKeyFile reads a key file: "[group]" lines, "key=value" lines, "#" comments and blank
// lines; the escapes \s \n \t \r \\ of a value are decoded. A line that is none of these, or
// a key before any group, makes the file malformed, as GLib has it. At most maxGroups groups
// and maxKeys keys are kept.
func ParseKeyFile(b []byte) (KeyFile, error) {
	out := KeyFile{}
	var group map[string]string
	keys := 0
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		if t[0] == '[' {
			if t[len(t)-1] != ']' || len(t) < 3 || bytes.ContainsAny(t[1:len(t)-1], "[]") {
				return nil, errors.New("key file: malformed group line")
			}
			name := string(t[1 : len(t)-1])
			if group = out[name]; group == nil {
				if len(out) >= maxGroups {
					return nil, errors.New("key file: too many groups")
				}
				group = map[string]string{}
				out[name] = group
			}
			continue
		}
		k, v, ok := bytes.Cut(line, []byte("="))
		k = bytes.TrimSpace(k)
		if !ok || len(k) == 0 || group == nil {
			return nil, errors.New("key file: malformed line")
		}
		if bytes.IndexByte(k, '[') >= 0 {
			continue // a translation
		}
		if _, dup := group[string(k)]; dup {
			continue
		}
		if keys++; keys > maxKeys {
			return nil, errors.New("key file: too many keys")
		}
		group[string(k)] = unescape(bytes.TrimLeft(v, " \t"))
	}
	return out, nil
}

var keyEscapes = map[byte]byte{'s': ' ', 'n': '\n', 't': '\t', 'r': '\r', '\\': '\\'}

func unescape(v []byte) string {
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v)
	}
	var s strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			if c, ok := keyEscapes[v[i+1]]; ok {
				s.WriteByte(c)
				i++
				continue
			}
		}
		s.WriteByte(v[i])
	}
	return s.String()
}

// Metainfo is what an AppStream metainfo (or older appdata) file says of a component.
type Metainfo struct {
	ID, Name, Summary, License, Version, Developer string
}

// MaxMetainfo bounds one metainfo file.
const MaxMetainfo = 512 << 10

// ParseMetainfo reads an AppStream metainfo file: the component's id, its untranslated name
// and summary (an element with an xml:lang is a translation), project_license, the
// developer's name (developer or the older developer_name) and the version of the first
// release listed, the newest as the specification orders them. Nothing is fetched or
// expanded: the XML reader knows no external entities.
func ParseMetainfo(b []byte) (Metainfo, error) {
	var m Metainfo
	dec := xml.NewDecoder(bytes.NewReader(b))
	var path []string
	translated := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Metainfo{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(path) >= 32 {
				return Metainfo{}, errors.New("metainfo: nested too deep")
			}
			path = append(path, t.Name.Local)
			if translated > 0 || hasLang(t) {
				translated++
			}
			if strings.Join(path, "/") == "component/releases/release" && m.Version == "" {
				for _, a := range t.Attr {
					if a.Name.Local == "version" {
						m.Version = a.Value
					}
				}
			}
		case xml.EndElement:
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
			if translated > 0 {
				translated--
			}
		case xml.CharData:
			if translated > 0 {
				continue
			}
			m.text(strings.Join(path, "/"), strings.TrimSpace(string(t)))
		}
	}
	if len(path) > 0 || m.ID == "" {
		return Metainfo{}, errors.New("metainfo: no component id")
	}
	return m, nil
}

func (m *Metainfo) text(path, s string) {
	if s == "" {
		return
	}
	set := func(f *string) {
		if *f == "" {
			*f = s
		}
	}
	switch path {
	case "component/id":
		set(&m.ID)
	case "component/name":
		set(&m.Name)
	case "component/summary":
		set(&m.Summary)
	case "component/project_license":
		set(&m.License)
	case "component/developer/name", "component/developer_name":
		set(&m.Developer)
	}
}

func hasLang(t xml.StartElement) bool {
	for _, a := range t.Attr {
		if a.Name.Local == "lang" {
			return true
		}
	}
	return false
}

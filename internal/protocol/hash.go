package protocol

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/onus-project/onus/internal/model"
)

// appendHashed appends the bytes Hash hashes: json.Marshal of the state with each package
// cut to what identifies its installation. A struct's encoding is its fields' encodings in
// order, so the state is written field by field: the small parts by json.Marshal, the
// software list by appendPackages, which writes what json.Marshal writes for those fields.
func appendHashed(b []byte, st *State) []byte {
	b = append(b, `{"host":`...)
	b = appendJSON(b, &st.Host)
	b = append(b, `,"software":`...)
	b = appendPackages(b, st.Software)
	b = append(b, `,"services":`...)
	b = appendJSON(b, st.Services)
	b = append(b, `,"listeners":`...)
	b = appendJSON(b, st.Listeners)
	b = append(b, `,"sources":`...)
	b = appendJSON(b, st.Sources)
	return append(b, '}')
}

func appendJSON(b []byte, v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		// A State holds only strings, numbers, booleans and times: it always encodes.
		panic("protocol: encoding a state: " + err.Error())
	}
	return append(b, out...)
}

// appendPackages writes the packages as json.Marshal writes model.Packages holding only
// source, name, version, arch, install time, state and the InstallInfo fields (the
// descriptive PackageInfo fields and the size are left empty and omitted).
func appendPackages(b []byte, pkgs []model.Package) []byte {
	if pkgs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range pkgs {
		if i > 0 {
			b = append(b, ',')
		}
		p := &pkgs[i]
		b = append(b, `{"source":`...)
		b = appendString(b, p.Source)
		b = append(b, `,"name":`...)
		b = appendString(b, p.Name)
		b = append(b, `,"version":`...)
		b = appendString(b, p.Version)
		if p.Arch != "" {
			b = append(b, `,"arch":`...)
			b = appendString(b, p.Arch)
		}
		if !p.InstallTime.IsZero() {
			b = append(b, `,"install_time":`...)
			b = appendTime(b, p.InstallTime)
		}
		if p.State != "" {
			b = append(b, `,"state":`...)
			b = appendString(b, p.State)
		}
		b = appendInstallInfo(b, &p.InstallInfo)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendInstallInfo writes the fields of i that are not empty, as json.Marshal writes them
// in place inside a package.
func appendInstallInfo(b []byte, i *model.InstallInfo) []byte {
	for _, f := range i.Texts() {
		if *f.Ptr != "" {
			b = append(append(append(b, `,"`...), f.Name...), `":`...)
			b = appendString(b, *f.Ptr)
		}
	}
	if i.Copies != 0 {
		b = strconv.AppendInt(append(b, `,"copies":`...), int64(i.Copies), 10)
	}
	if i.Platform {
		b = append(b, `,"platform":true`...)
	}
	if len(i.Labels) > 0 {
		b = appendJSON(append(b, `,"labels":`...), i.Labels)
	}
	return b
}

// appendString writes s quoted as json.Marshal does: printable ASCII as it is, anything
// else (escapes, HTML characters, control characters, other runes, invalid UTF-8) by
// json.Marshal itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return appendJSON(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTime writes t as time.Time's MarshalJSON does (RFC 3339 with nanoseconds).
func appendTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 || t.Location() != time.UTC {
		// MarshalJSON's own path: an offset it cannot write, or a year it refuses (the
		// same panic as json.Marshal's).
		return appendJSON(b, t)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

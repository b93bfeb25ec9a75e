package rpm

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

// entry is one header entry for buildHeader; val is a string, []string (for I18NSTRING),
// uint32 or uint64.
type entry struct {
	tag uint32
	val any
}

// buildHeader encodes entries as an rpm header blob.
func buildHeader(entries ...entry) []byte {
	var index, data []byte
	for _, e := range entries {
		var typ, cnt uint32 = 0, 1
		off := uint32(len(data))
		switch v := e.val.(type) {
		case string:
			typ = typeString
			data = append(append(data, v...), 0)
		case []string:
			typ, cnt = typeI18NString, uint32(len(v))
			for _, s := range v {
				data = append(append(data, s...), 0)
			}
		case uint32:
			for len(data)%4 != 0 {
				data = append(data, 0)
			}
			off, typ = uint32(len(data)), typeInt32
			data = binary.BigEndian.AppendUint32(data, v)
		case uint64:
			for len(data)%8 != 0 {
				data = append(data, 0)
			}
			off, typ = uint32(len(data)), typeInt64
			data = binary.BigEndian.AppendUint64(data, v)
		}
		for _, x := range []uint32{e.tag, typ, off, cnt} {
			index = binary.BigEndian.AppendUint32(index, x)
		}
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(entries)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(append(b, index...), data...)
}

var baseEntries = []entry{
	{tagName, "nginx"}, {tagVersion, "1.20.1"}, {tagRelease, "14.el9_2.1"}, {tagArch, "x86_64"},
}

func TestParseHeader(t *testing.T) {
	with := func(extra ...entry) []byte {
		return buildHeader(append(append([]entry{}, baseEntries...), extra...)...)
	}
	tests := []struct {
		name string
		blob []byte
		want model.Package
	}{
		{"no epoch", with(), model.Package{Version: "1.20.1-14.el9_2.1"}},
		{"epoch 0 left out", with(entry{tagEpoch, uint32(0)}), model.Package{Version: "1.20.1-14.el9_2.1"}},
		{"epoch", with(entry{tagEpoch, uint32(1)}), model.Package{Version: "1:1.20.1-14.el9_2.1"}},
		{"no release", buildHeader(entry{tagName, "x"}, entry{tagVersion, "1"}), model.Package{Name: "x", Version: "1"}},
		{"size", with(entry{tagSize, uint32(4000000000)}), model.Package{Version: "1.20.1-14.el9_2.1", InstalledSize: 4000000000}},
		{"long size wins", with(entry{tagSize, uint32(1)}, entry{tagLongSize, uint64(5 << 30)}),
			model.Package{Version: "1.20.1-14.el9_2.1", InstalledSize: 5 << 30}},
		{"untranslated summary and group", with(entry{tagSummary, []string{"A web server", "Ein Webserver"}},
			entry{tagGroup, []string{"System Environment/Daemons", "System/Dienste"}}),
			model.Package{Version: "1.20.1-14.el9_2.1", PackageInfo: model.PackageInfo{Summary: "A web server", Section: "System Environment/Daemons"}}},
		{"later entry wins", with(entry{tagVendor, "old"}, entry{tagVendor, "new"}),
			model.Package{Version: "1.20.1-14.el9_2.1", PackageInfo: model.PackageInfo{Vendor: "new"}}},
		{"install time", with(entry{tagInstallTime, uint32(1718093145)}),
			model.Package{Version: "1.20.1-14.el9_2.1", InstallTime: time.Unix(1718093145, 0).UTC()}},
		{"long field cut", with(entry{tagSummary, strings.Repeat("é", 3000)}),
			model.Package{Version: "1.20.1-14.el9_2.1", PackageInfo: model.PackageInfo{Summary: strings.Repeat("é", (maxFieldLen-len(protocol.CutMarker))/2) + protocol.CutMarker}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h header
			if err := parseHeader(tt.blob, &h); err != nil {
				t.Fatal(err)
			}
			var got model.Package
			h.toPackage(&got, make(source.Interner))
			want := tt.want
			want.Source = "rpm"
			if want.Name == "" {
				want.Name, want.Arch = "nginx", "x86_64"
			}
			if !got.Equal(&want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseHeaderMalformed(t *testing.T) {
	good := buildHeader(baseEntries...)
	set := func(b []byte, off int, v uint32) []byte {
		b = append([]byte(nil), b...)
		binary.BigEndian.PutUint32(b[off:], v)
		return b
	}
	dataStart := 8 + len(baseEntries)*entrySize
	tests := []struct {
		name string
		blob []byte
	}{
		{"empty", nil},
		{"short", good[:7]},
		{"no entries", set(good, 0, 0)},
		{"too many entries", set(good, 0, maxEntries+1)},
		{"data past the end", set(good, 4, uint32(len(good)))},
		{"truncated", good[:len(good)-1]},
		{"string offset past data", set(good, 8+8, uint32(len(good)))},
		{"unterminated string", set(good[:len(good)-1], 4, uint32(len(good)-1-dataStart))},
		{"name is a number", set(good, 8+4, typeInt32)},
		{"epoch is a string", buildHeader(append(append([]entry{}, baseEntries...), entry{tagEpoch, "1"})...)},
		{"int past data", set(buildHeader(append(append([]entry{}, baseEntries...), entry{tagSize, uint32(1)})...),
			8+4*entrySize+8, 1<<20)},
		{"no name", buildHeader(entry{tagVersion, "1"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h header
			if err := parseHeader(tt.blob, &h); !errors.Is(err, ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestPubkey(t *testing.T) {
	var h header
	if err := parseHeader(buildHeader(entry{tagName, "gpg-pubkey"}, entry{tagVersion, "350d275d"}, entry{tagRelease, "6243b6a9"}), &h); err != nil {
		t.Fatal(err)
	}
	if !h.isPubkey() {
		t.Error("gpg-pubkey not recognised")
	}
}

func toPkg(h *header) model.Package {
	var p model.Package
	h.toPackage(&p, make(source.Interner))
	return p
}

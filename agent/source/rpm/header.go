package rpm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
)

// Header tags read from each package header (rpm's rpmtag.h).
const (
	tagName        = 1000
	tagVersion     = 1001
	tagRelease     = 1002
	tagEpoch       = 1003
	tagSummary     = 1004
	tagInstallTime = 1008
	tagSize        = 1009
	tagVendor      = 1011
	tagLicense     = 1014
	tagPackager    = 1015
	tagGroup       = 1016
	tagArch        = 1022
	tagSourceRPM   = 1044
	tagLongSize    = 5009
)

// Header entry data types.
const (
	typeInt32       = 4
	typeInt64       = 5
	typeString      = 6
	typeStringArray = 8
	typeI18NString  = 9
)

const (
	entrySize   = 16
	maxEntries  = 0xffff    // rpm's own limit on a header's index entries
	maxData     = 256 << 20 // and on its data store
	maxFieldLen = 4096      // longest string kept; longer ones are cut at a rune boundary
)

// pubkeyName is the name of the pseudo packages that hold imported signing keys.
const pubkeyName = "gpg-pubkey"

// header holds the fields of one package header, as slices of the blob it was parsed from.
type header struct {
	name, version, release, arch          []byte
	summary, vendor, license, packager    []byte
	group, sourceRPM                      []byte
	epoch, installTime, size              uint32
	longSize                              uint64
	hasEpoch, hasInstallTime, hasLongSize bool
}

// parseHeader decodes an rpm header blob as rpm's databases keep it (no lead, no magic): the
// index entry count and data length (big-endian), the index entries (tag, type, offset,
// count), then the data store. Every offset and count is checked against the blob. When a tag
// occurs more than once the last entry wins, as in rpm, where entries added after the
// immutable region replace the ones inside it.
func parseHeader(b []byte, h *header) error {
	*h = header{}
	if len(b) < 8 {
		return fmt.Errorf("%w: header of %d bytes", ErrMalformed, len(b))
	}
	il := binary.BigEndian.Uint32(b)
	dl := binary.BigEndian.Uint32(b[4:])
	if il == 0 || il > maxEntries || dl > maxData {
		return fmt.Errorf("%w: header with %d entries and %d bytes of data", ErrMalformed, il, dl)
	}
	start := 8 + uint64(il)*entrySize
	if start+uint64(dl) > uint64(len(b)) {
		return fmt.Errorf("%w: header needs %d bytes, has %d", ErrMalformed, start+uint64(dl), len(b))
	}
	index := b[8:start]
	data := b[start : start+uint64(dl)]
	// Find the last entry of each tag first, so that a header repeating a tag many times
	// costs one decoding of it, not one per repeat.
	wantedTags := [...]uint32{tagName, tagVersion, tagRelease, tagEpoch, tagSummary, tagInstallTime,
		tagSize, tagVendor, tagLicense, tagPackager, tagGroup, tagArch, tagSourceRPM, tagLongSize}
	var last [len(wantedTags)]uint32 // entry offset in index + 1; 0 for none
	for i := 0; i < len(index); i += entrySize {
		tag := binary.BigEndian.Uint32(index[i:])
		if tag < tagName || (tag > tagSourceRPM && tag != tagLongSize) {
			continue
		}
		for w, t := range wantedTags {
			if t == tag {
				last[w] = uint32(i) + 1
				break
			}
		}
	}
	for w, at := range last {
		if at == 0 {
			continue
		}
		e := index[at-1 : at-1+entrySize]
		tag := wantedTags[w]
		typ := binary.BigEndian.Uint32(e[4:])
		off := binary.BigEndian.Uint32(e[8:])
		cnt := binary.BigEndian.Uint32(e[12:])
		var err error
		switch tag {
		case tagName:
			h.name, err = str(data, typ, off, cnt)
		case tagVersion:
			h.version, err = str(data, typ, off, cnt)
		case tagRelease:
			h.release, err = str(data, typ, off, cnt)
		case tagArch:
			h.arch, err = str(data, typ, off, cnt)
		case tagSummary:
			h.summary, err = str(data, typ, off, cnt)
		case tagVendor:
			h.vendor, err = str(data, typ, off, cnt)
		case tagLicense:
			h.license, err = str(data, typ, off, cnt)
		case tagPackager:
			h.packager, err = str(data, typ, off, cnt)
		case tagGroup:
			h.group, err = str(data, typ, off, cnt)
		case tagSourceRPM:
			h.sourceRPM, err = str(data, typ, off, cnt)
		case tagEpoch:
			h.epoch, err = int32At(data, typ, off, cnt)
			h.hasEpoch = err == nil
		case tagInstallTime:
			h.installTime, err = int32At(data, typ, off, cnt)
			h.hasInstallTime = err == nil
		case tagSize:
			h.size, err = int32At(data, typ, off, cnt)
		case tagLongSize:
			if typ != typeInt64 || cnt == 0 || uint64(off)+8 > uint64(len(data)) {
				err = fmt.Errorf("%w: bad LONGSIZE entry", ErrMalformed)
				break
			}
			h.longSize, h.hasLongSize = binary.BigEndian.Uint64(data[off:]), true
		}
		if err != nil {
			return fmt.Errorf("tag %d: %w", tag, err)
		}
	}
	if len(h.name) == 0 || len(h.version) == 0 {
		return fmt.Errorf("%w: header without name or version", ErrMalformed)
	}
	return nil
}

// str returns the first string of a STRING, STRING_ARRAY or I18NSTRING entry (for the last,
// the untranslated one), without its terminating NUL.
func str(data []byte, typ, off, cnt uint32) ([]byte, error) {
	if typ != typeString && typ != typeStringArray && typ != typeI18NString {
		return nil, fmt.Errorf("%w: type %d where a string was expected", ErrMalformed, typ)
	}
	if cnt == 0 || uint64(off) >= uint64(len(data)) {
		return nil, fmt.Errorf("%w: string entry out of bounds", ErrMalformed)
	}
	s := data[off:]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		return s[:i], nil
	}
	return nil, fmt.Errorf("%w: unterminated string", ErrMalformed)
}

// int32At returns the first value of an INT32 entry.
func int32At(data []byte, typ, off, cnt uint32) (uint32, error) {
	if typ != typeInt32 || cnt == 0 || uint64(off)+4 > uint64(len(data)) {
		return 0, fmt.Errorf("%w: bad INT32 entry", ErrMalformed)
	}
	return binary.BigEndian.Uint32(data[off:]), nil
}

// isPubkey reports whether h is a gpg-pubkey pseudo package: a signing key rpm keeps in its
// database as if it were a package, which is not software.
func (h *header) isPubkey() bool { return string(h.name) == pubkeyName }

// toPackage fills p from h. The version is [epoch:]version-release, the epoch left out when it
// is absent or zero, as rpm prints it.
func (h *header) toPackage(p *model.Package, in source.Interner) {
	*p = model.Package{
		Source:  sourceFormat,
		Name:    source.Text(h.name, maxFieldLen),
		Version: h.evr(),
		Arch:    in.String(h.arch, maxFieldLen),
		PackageInfo: model.PackageInfo{
			Vendor:     in.String(h.vendor, maxFieldLen),
			Maintainer: in.String(h.packager, maxFieldLen),
			Section:    in.String(h.group, maxFieldLen),
			Origin:     source.Text(h.sourceRPM, maxFieldLen),
			License:    in.String(h.license, maxFieldLen),
			Summary:    source.Text(h.summary, maxFieldLen),
		},
		InstalledSize: uint64(h.size),
	}
	if h.hasLongSize {
		p.InstalledSize = h.longSize
	}
	if h.hasInstallTime && h.installTime != 0 {
		p.InstallTime = time.Unix(int64(h.installTime), 0).UTC()
	}
}

func (h *header) evr() string {
	n := len(h.version) + 1 + len(h.release) + 11
	if n > maxFieldLen {
		return source.Text(h.version, maxFieldLen)
	}
	var buf [maxFieldLen]byte
	b := buf[:0]
	if h.hasEpoch && h.epoch != 0 {
		b = strconv.AppendUint(b, uint64(h.epoch), 10)
		b = append(b, ':')
	}
	b = append(b, h.version...)
	if len(h.release) > 0 {
		b = append(b, '-')
		b = append(b, h.release...)
	}
	return string(b)
}

package files

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"

	"github.com/onus-project/onus/agent/source/gobin"
)

// The ELF note of systemd's package metadata specification
// (https://systemd.io/ELF_PACKAGE_METADATA/): owner "FDO", type 0xcafe1a7e, a JSON object as
// its descriptor, in a section named .note.package.
const (
	noteSection = ".note.package"
	noteOwner   = "FDO"
	noteType    = 0xcafe1a7e
	maxNotes    = 64 << 10 // the notes read from one section or segment
)

// PackageNote is the JSON of an ELF package metadata note; fields it does not have are "".
type PackageNote struct {
	Type         string `json:"type,omitempty"`
	Name         string `json:"name,omitempty"`
	Version      string `json:"version,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	OSCPE        string `json:"osCpe,omitempty"`
}

// ParseNotes finds the package metadata note among the ELF notes in data, of the given byte
// order. Each note is namesz, descsz and type, then the name and the descriptor, each padded
// to 4 bytes. A note whose descriptor is not a JSON object of strings is ignored.
func ParseNotes(data []byte, order binary.ByteOrder) (PackageNote, bool) {
	for len(data) >= 12 {
		namesz, descsz, typ := order.Uint32(data), order.Uint32(data[4:]), order.Uint32(data[8:])
		data = data[12:]
		nameEnd := uint64(namesz)
		descStart := (nameEnd + 3) &^ 3
		descEnd := descStart + uint64(descsz)
		if descEnd > uint64(len(data)) {
			return PackageNote{}, false
		}
		name := bytes.TrimRight(data[:nameEnd], "\x00")
		desc := bytes.TrimRight(data[descStart:descEnd], "\x00")
		if typ == noteType && string(name) == noteOwner {
			var n PackageNote
			if json.Unmarshal(desc, &n) == nil {
				return n, true
			}
		}
		next := (descEnd + 3) &^ 3
		if next > uint64(len(data)) {
			break
		}
		data = data[next:]
	}
	return PackageNote{}, false
}

// magic says what a file's first bytes show it is.
func magic(f io.ReaderAt) (isELF, appImage bool) {
	var b [16]byte
	if n, _ := f.ReadAt(b[:], 0); n < len(b) {
		return false, false
	}
	isELF = string(b[:4]) == elf.ELFMAG
	switch string(b[8:11]) {
	case "AI\x02":
		appImage = isELF
	case "AI\x01":
		// Type 1 is an ISO 9660 image whose system area is an ELF runtime.
		var cd [5]byte
		n, _ := f.ReadAt(cd[:], 32769)
		appImage = n == len(cd) && string(cd[:]) == "CD001"
	}
	return isELF, appImage
}

// declared fills what an ELF binary declares of itself: its package note and, for a Go
// binary, its main module. Malformed ELF is not an error: it declares nothing.
func declared(f io.ReaderAt, size int64, m *Meta) {
	defer func() {
		// debug/elf reads whatever a hostile file holds; a panic in it must not end the pass.
		_ = recover()
	}()
	ef, err := elf.NewFile(f)
	if err != nil {
		return
	}
	if n, ok := packageNote(ef); ok {
		m.Note = &n
	}
	if bi, err := gobin.Read(f, size); err == nil { // within gobin.MaxRead bytes of the file
		m.GoModule, m.GoVersion, m.GoPath = bi.Main.Path, bi.Main.Version, bi.Path
	}
}

// packageNote reads the package note from the .note.package section or, in a binary stripped
// of its section headers, from a PT_NOTE segment.
func packageNote(ef *elf.File) (PackageNote, bool) {
	read := func(r io.Reader) []byte {
		b, _ := io.ReadAll(io.LimitReader(r, maxNotes))
		return b
	}
	if s := ef.Section(noteSection); s != nil && s.Type == elf.SHT_NOTE {
		return ParseNotes(read(s.Open()), ef.ByteOrder)
	}
	if len(ef.Sections) > 1 {
		return PackageNote{}, false
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_NOTE {
			if n, ok := ParseNotes(read(p.Open()), ef.ByteOrder); ok {
				return n, true
			}
		}
	}
	return PackageNote{}, false
}

// hasher hashes files with one buffer.
type hasher struct{ buf []byte }

// hash returns "sha256:<hex>" of the first size bytes of f and how many bytes it read.
func (h *hasher) hash(f *os.File, size int64) (string, int64, error) {
	if h.buf == nil {
		h.buf = make([]byte, 256<<10)
	}
	s := sha256.New()
	n, err := io.CopyBuffer(s, io.NewSectionReader(f, 0, size), h.buf)
	if err != nil {
		return "", n, err
	}
	return "sha256:" + hex.EncodeToString(s.Sum(nil)), n, nil
}

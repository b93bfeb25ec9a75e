package systemd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseUnitFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    unitFile
		wantErr bool
	}{
		{name: "empty", in: ""},
		{name: "description", in: "[Unit]\nDescription= Journal Service \n", want: unitFile{Description: "Journal Service"}},
		{name: "last description wins", in: "[Unit]\nDescription=a\nDescription=b\n", want: unitFile{Description: "b"}},
		{name: "description outside [Unit]", in: "[Service]\nDescription=x\n"},
		{name: "crlf", in: "[Unit]\r\nDescription=x\r\n", want: unitFile{Description: "x"}},
		{
			name: "continuation with comment inside",
			in:   "[Unit]\nDescription=a \\\n# dropped\n  b\\\n c\n",
			want: unitFile{Description: "a  b c"},
		},
		{name: "continuation at end of file", in: "[Unit]\nDescription=a\\", want: unitFile{Description: "a"}},
		{name: "comments", in: "#[Install]\n;WantedBy=x\n[Unit]\n# Description=no\n"},
		{name: "wanted", in: "[Install]\nWantedBy=multi-user.target\n", want: unitFile{Rules: true}},
		{name: "alias", in: "[Install]\nAlias=sshd.service\n", want: unitFile{Rules: true}},
		{name: "reset", in: "[Install]\nWantedBy=a.target b.target\nWantedBy=\n", want: unitFile{}},
		{name: "also only", in: "[Install]\nAlso=a.socket\n", want: unitFile{Also: true}},
		{name: "install without rules", in: "[Install]\nDefaultInstance=tty1\n"},
		{name: "bad lines", in: "x=1\n[Unit]\nnothing\nDescription=d\n", want: unitFile{Description: "d", BadLines: 2}},
		{name: "user", in: "[Service]\nUser= postgres \n", want: unitFile{User: "postgres"}},
		{name: "last user wins", in: "[Service]\nUser=a\nUser=b\n", want: unitFile{User: "b"}},
		{name: "user reset", in: "[Service]\nUser=a\nUser=\n", want: unitFile{}},
		{name: "user outside [Service]", in: "[Unit]\nUser=x\n[Socket]\nUser=y\n"},
		{name: "user with control characters", in: "[Service]\nUser=a\x1bb\n", want: unitFile{User: "a\\x1bb"}},
		{name: "open header", in: "[Unit\n", wantErr: true},
		{name: "empty header", in: "[]\n", wantErr: true},
		{name: "nul", in: "[Unit]\nDescription=a\x00\n", wantErr: true},
		{name: "invalid utf-8", in: "[Unit]\nDescription=a\xffb\n", want: unitFile{Description: "a\uFFFDb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUnitFile([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, errMalformed) {
					t.Fatalf("err = %v, want errMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseUnitFileLongDescription(t *testing.T) {
	in := "[Unit]\nDescription=" + string(bytes.Repeat([]byte("é"), maxDescription)) + "\n"
	got, err := parseUnitFile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Description) > maxDescription || len(got.Description) < maxDescription-1 {
		t.Errorf("description of %d bytes, want at most %d", len(got.Description), maxDescription)
	}
}

func FuzzParseUnitFile(f *testing.F) {
	for _, root := range fixtures {
		for _, dir := range []string{"usr/lib/systemd/system", "run/systemd/generator.late"} {
			paths, _ := filepath.Glob(filepath.Join(string(fixtureRoot(root)), dir, "*"))
			for _, p := range paths {
				if b, err := os.ReadFile(p); err == nil {
					f.Add(b)
				}
			}
		}
	}
	f.Add([]byte("[Unit]\nDescription=a\\\n#c\nb\n[Install]\nWantedBy=\nAlso=x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := parseUnitFile(data)
		if err != nil {
			if u != (unitFile{}) {
				t.Fatalf("error %v with a result %+v", err, u)
			}
			return
		}
		// U+FFFD replacements may grow an invalid byte to three.
		if len(u.Description) > 3*maxDescription {
			t.Fatalf("description of %d bytes", len(u.Description))
		}
		if n := bytes.Count(data, []byte("\n")) + 1; u.BadLines > n {
			t.Fatalf("%d bad lines out of %d", u.BadLines, n)
		}
	})
}

package protocol

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/testutil/fixture"
)

// marshaled is the definition of the hashed bytes: json.Marshal of the state with each
// package cut to what identifies its installation.
func marshaled(t testing.TB, st *State) []byte {
	t.Helper()
	view := *st
	if st.Software != nil {
		view.Software = make([]model.Package, len(st.Software))
	}
	for i, p := range st.Software {
		view.Software[i] = model.Package{Source: p.Source, Name: p.Name, Version: p.Version, Arch: p.Arch, InstallTime: p.InstallTime, State: p.State,
			InstallInfo: p.InstallInfo}
	}
	b, err := json.Marshal(&view)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHashedBytes checks that appendHashed writes json.Marshal's bytes for every golden
// inventory, and for packages whose text needs every kind of escape.
func TestHashedBytes(t *testing.T) {
	for _, name := range goldenNames {
		t.Run(name, func(t *testing.T) {
			st, _ := FromInventory(fixture.Golden(t, name))
			if got, want := appendHashed(nil, &st), marshaled(t, &st); !bytes.Equal(got, want) {
				t.Fatalf("hashed bytes differ from json.Marshal's:\n%s\n%s", got, want)
			}
		})
	}
	odd := &State{Software: []model.Package{
		{Source: "deb", Name: `a"b\c`, Version: "1<2>&3", Arch: "x\u2028y", State: "half\tinstalled"},
		{Source: "deb", Name: "caf\xc3\xa9\xff", Version: "\x00\x1f", InstallTime: time.Date(2024, 2, 29, 1, 2, 3, 0, time.UTC)},
		{Source: "rpm", Name: "tz", Version: "1", InstallTime: time.Date(2024, 2, 29, 1, 2, 3, 0, time.FixedZone("X", 5*3600+30*60))},
		{Source: "rpm", Name: "nano", Version: "1", InstallTime: time.Date(2024, 2, 29, 1, 2, 3, 456, time.UTC)},
		{Source: "pypi", Name: "requests", Version: "2.31.0", InstallInfo: model.InstallInfo{
			Location: "/usr/lib/python3/dist-packages/requests-2.31.0.dist-info", User: "caf\xc3\xa9", Digest: "sha256:00",
			Requested: "explicit", InstalledBy: "alice <x>", InstallCommand: "pip install\trequests", Evidence: "apt-history",
			Copies: 2, Platform: true, Labels: map[string]string{"z": "1", "a": "<&>"}}},
	}}
	if got, want := appendHashed(nil, odd), marshaled(t, odd); !bytes.Equal(got, want) {
		t.Fatalf("hashed bytes differ from json.Marshal's:\n%s\n%s", got, want)
	}
	if got, want := appendHashed(nil, &State{}), marshaled(t, &State{}); !bytes.Equal(got, want) {
		t.Fatalf("empty state: %s, want %s", got, want)
	}
}

// FuzzHashedBytes checks appendHashed against json.Marshal on any text and time.
func FuzzHashedBytes(f *testing.F) {
	f.Add("deb", "bash", "5.2-15", "amd64", "", int64(1700000000), int64(0))
	f.Add("rpm", "a\"<&>\u2028", "\xff\x00", "", "config-files", int64(-62135596800), int64(999))
	f.Fuzz(func(t *testing.T, source, name, version, arch, state string, sec, nsec int64) {
		var at time.Time
		if sec != 0 {
			at = time.Unix(sec%(1<<40), nsec%1e9).UTC()
		}
		st := &State{Software: []model.Package{{Source: source, Name: name, Version: version, Arch: arch, State: state, InstallTime: at}}}
		view := marshaledOrNil(st)
		if view == nil {
			return // json.Marshal refuses it (a year past 9999): so does Hash
		}
		if got := appendHashed(nil, st); !bytes.Equal(got, view) {
			t.Fatalf("hashed bytes differ from json.Marshal's:\n%s\n%s", got, view)
		}
	})
}

func marshaledOrNil(st *State) []byte {
	view := *st
	b, err := json.Marshal(&view)
	if err != nil {
		return nil
	}
	return b
}

package container

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onus-project/onus/agent/hostfs"
	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/golden"
)

const fixtureRoot = "testdata/root"

func collect(t testing.TB, root string) source.Result {
	t.Helper()
	res, err := New(Options{Root: hostfs.Root(root)}).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestCollectFixture reads the fixture root: Docker's files (no daemon answers), the Podman
// stores the real podman wrote, and containerd's metadata database.
func TestCollectFixture(t *testing.T) {
	res := collect(t, fixtureRoot)
	golden.AssertJSON(t, filepath.Join("testdata", "root.golden.json"), map[string]any{
		"software": res.Software, "services": res.Services, "skipped": res.Skipped})
	accepted(t, res)
}

// accepted fails t unless the collector takes res as it is: nothing left to clean, and valid.
func accepted(t testing.TB, res source.Result) {
	t.Helper()
	st := protocol.State{Host: model.Host{ID: "h"}, Software: slices.Clone(res.Software), Services: slices.Clone(res.Services)}
	protocol.CleanState(&st)
	for i := range st.Software {
		if !st.Software[i].Equal(&res.Software[i]) {
			t.Errorf("package %+v left unclean: %+v", res.Software[i], st.Software[i])
		}
	}
	for i := range st.Services {
		if !st.Services[i].Equal(&res.Services[i]) {
			t.Errorf("service %+v left unclean: %+v", res.Services[i], st.Services[i])
		}
	}
	protocol.Normalize(&st)
	r := protocol.Report{HostID: "h", Seq: 1, Kind: protocol.KindFull, Hash: protocol.Hash(&st), State: &st}
	if err := protocol.Validate(&r); err != nil {
		t.Fatalf("the collector would refuse this inventory: %v", err)
	}
}

func TestNotPresent(t *testing.T) {
	_, err := New(Options{Root: hostfs.Root(t.TempDir())}).Collect(context.Background())
	if !errors.Is(err, source.ErrNotPresent) {
		t.Fatalf("empty root: err = %v, want ErrNotPresent", err)
	}
}

package winprog

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
	"github.com/onus-project/onus/internal/testutil/golden"
)

// TestServices checks on the fixtures (Wine's services as reg export writes them, and
// hand-written ones) the types kept, the start types and the values read.
func TestServices(t *testing.T) {
	res, err := NewServices(fixtures(t)).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	golden.AssertJSON(t, "testdata/services.golden.json", res)
	byName := map[string]model.Service{}
	for _, s := range res.Services {
		byName[s.Name] = s
	}
	for name, want := range map[string]model.Service{
		"PlugPlay":    {Description: "Plug and Play Service", UnitFileState: "auto", Path: `C:\windows\system32\plugplay.exe`, User: "LocalSystem"},
		"AcmeAgent":   {Description: "Acme Agent", UnitFileState: "delayed-auto", Path: `"C:\Acme\agent.exe"`, User: `NT AUTHORITY\LocalService`},
		"AcmeOld":     {UnitFileState: "disabled", Path: `C:\Acme\old.exe`},
		"AcmeOdd":     {},
		"AcmeUserSvc": {UnitFileState: "manual"},
	} {
		got, ok := byName[name]
		if !ok || got.Manager != ServiceManager || got.Description != want.Description || got.UnitFileState != want.UnitFileState ||
			got.Path != want.Path || got.User != want.User {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	if _, ok := byName["acmedrv"]; ok {
		t.Error("a driver is listed")
	}
	if byName["AcmeUserSvc"].Labels["user_service"] != "true" || byName["PlugPlay"].Labels["type"] != "share_process" {
		t.Errorf("labels: %v %v", byName["AcmeUserSvc"].Labels, byName["PlugPlay"].Labels)
	}
	if res.Skipped != 2 { // AcmeOdd's Start 9 and DWORD DisplayName
		t.Errorf("%d skipped", res.Skipped)
	}
	st := protocol.State{Host: model.Host{ID: "h"}, Services: slices.Clone(res.Services)}
	protocol.CleanState(&st)
	protocol.Normalize(&st)
	r := protocol.Report{HostID: "h", Seq: 1, Kind: protocol.KindFull, Hash: protocol.Hash(&st), State: &st}
	if err := protocol.Validate(&r); err != nil {
		t.Errorf("the collector would refuse these services: %v", err)
	}
	if _, err := NewServices(NewRegFile()).Collect(context.Background()); !errors.Is(err, source.ErrNotPresent) {
		t.Errorf("no Services key: %v", err)
	}
}

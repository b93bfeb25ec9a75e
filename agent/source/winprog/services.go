package winprog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/onus-project/onus/agent/source"
	"github.com/onus-project/onus/internal/model"
	"github.com/onus-project/onus/internal/protocol"
)

const (
	servicesPath = `SYSTEM\CurrentControlSet\Services`
	// ServiceManager is the Manager of the Windows services: the service control manager.
	ServiceManager = "windows"
	// MaxServices bounds the keys of the Services key read per pass (drivers included).
	MaxServices = 20000
	// Service types (winnt.h SERVICE_WIN32_OWN_PROCESS, SERVICE_WIN32_SHARE_PROCESS); the
	// per-user service templates add 0x40, drivers are 0x1 and 0x2.
	typeOwnProcess   = 0x10
	typeShareProcess = 0x20
)

// Services reads the Windows services the service control manager keeps in
// HKLM\SYSTEM\CurrentControlSet\Services\<name>: the keys whose Type is a Win32 service
// (own or shared process; drivers are left out). Each is a service of manager "windows"
// named after its key: DisplayName as the description, the start type (Start, and
// DelayedAutostart) as the unit file state, ImagePath as the path, ObjectName (the account:
// LocalSystem, NT AUTHORITY\LocalService, .\alice) as the user, and the process type as the
// label type. The live state (running or stopped) needs the service manager and is not
// read; per-user service instances (name_<LUID>) are listed as their keys are.
//
// Checked under Wine 8 by TestWine: Wine's own services (PlugPlay, RpcSs) as its
// registry holds them. The start types, types and value types are tested on fixtures.
type Services struct{ reg Registry }

// NewServices returns a services source reading reg.
func NewServices(reg Registry) *Services { return &Services{reg: reg} }

// Name implements source.Source.
func (*Services) Name() string { return "winsvc" }

// ServiceManagers implements source.ServiceSource.
func (*Services) ServiceManagers() []string { return []string{ServiceManager} }

// startTypes names the Start values (SERVICE_BOOT_START … SERVICE_DISABLED).
var startTypes = [...]string{"boot", "system", "auto", "manual", "disabled"}

// Collect implements source.Source: not present without a Services key.
func (s *Services) Collect(ctx context.Context) (source.Result, error) {
	var res source.Result
	names, err := s.reg.SubKeys(LocalMachine, servicesPath, View64)
	if errors.Is(err, ErrNotExist) {
		return res, fmt.Errorf("winsvc: %w", source.ErrNotPresent)
	}
	if err != nil {
		return res, fmt.Errorf("winsvc: %w", err)
	}
	for i, name := range names {
		if i%256 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		if i >= MaxServices {
			res.Skipped += len(names) - i
			break
		}
		k, err := s.reg.Key(LocalMachine, servicesPath+`\`+name, View64)
		if err != nil {
			res.Skipped++
			continue
		}
		svc, ok, bad := readService(name, k)
		res.Skipped += bad
		if ok {
			res.Services = append(res.Services, svc)
		}
	}
	return res, nil
}

// readService makes the service of one key; ok is false for a driver or a key of no type.
func readService(name string, k Key) (svc model.Service, ok bool, bad int) {
	typ, isNum := k.Values["type"].Uint()
	if !isNum || typ&(typeOwnProcess|typeShareProcess) == 0 {
		return svc, false, 0
	}
	if name == "" || len(name) > protocol.MaxNameLen {
		return svc, false, 1
	}
	str := func(v string) string {
		val, found := k.Values[v]
		if !found {
			return ""
		}
		s, isStr := val.String()
		if !isStr {
			bad++
		}
		return strings.TrimSpace(s)
	}
	svc = model.Service{Manager: ServiceManager, Name: source.Text([]byte(name), protocol.MaxNameLen)}
	svc.Description = source.Text([]byte(str("displayname")), protocol.MaxFieldLen)
	svc.Path = source.Text([]byte(str("imagepath")), protocol.MaxFieldLen)
	svc.User = source.Text([]byte(str("objectname")), protocol.MaxNameLen)
	if v, found := k.Values["start"]; found {
		start, isNum := v.Uint()
		switch {
		case !isNum || start >= uint64(len(startTypes)):
			bad++
		case start == 2:
			svc.UnitFileState = "auto"
			if d, _ := k.Values["delayedautostart"].Uint(); d == 1 {
				svc.UnitFileState = "delayed-auto"
			}
		default:
			svc.UnitFileState = startTypes[start]
		}
	}
	labels := map[string]string{"type": "own_process"}
	if typ&typeShareProcess != 0 {
		labels["type"] = "share_process"
	}
	if typ&0x40 != 0 {
		labels["user_service"] = "true"
	}
	var dropped int
	svc.Labels, dropped = source.Labels(labels)
	return svc, true, bad + dropped
}

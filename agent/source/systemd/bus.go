package systemd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/godbus/dbus/v5"
)

// busUnit is one entry of org.freedesktop.systemd1.Manager.ListUnits, signature (ssssssouso).
type busUnit struct {
	Name        string
	Description string
	LoadState   string
	ActiveState string
	SubState    string
	Following   string
	Path        dbus.ObjectPath
	JobID       uint32
	JobType     string
	JobPath     dbus.ObjectPath
}

// Endpoints where the service manager answers, under the host root. The private socket needs
// no dbus-daemon and no Hello, but accepts root only; the system bus is the way in for others.
const (
	privateSocket = "/run/systemd/private"
	systemBus     = "/run/dbus/system_bus_socket"
)

// listUnits asks the service manager for its loaded units, trying the private socket, then
// the system bus, all within the source's bus timeout.
func (s *Source) listUnits(ctx context.Context) ([]busUnit, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var errs []error
	for _, ep := range [...]struct {
		path string
		bus  bool
	}{{privateSocket, false}, {systemBus, true}} {
		units, err := s.callListUnits(ctx, ep.path, ep.bus)
		if err == nil {
			return units, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %w", errNoManager, errors.Join(errs...))
}

// callListUnits makes one ListUnits call over the socket at the host path p. On a message bus
// (bus true) the connection first registers with Hello; a peer connection to the manager
// itself does not.
func (s *Source) callListUnits(ctx context.Context, p string, bus bool) ([]busUnit, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", s.root.Path(p))
	if err != nil {
		return nil, err
	}
	// The deadline bounds the authentication handshake, which takes no context.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(s.timeout)
	}
	if err := nc.SetDeadline(deadline); err != nil {
		nc.Close()
		return nil, err
	}
	conn, err := dbus.NewConn(nc, dbus.WithContext(ctx))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	defer conn.Close()
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		return nil, fmt.Errorf("%s: authenticating: %w", p, err)
	}
	if bus {
		if err := conn.Hello(); err != nil {
			return nil, fmt.Errorf("%s: hello: %w", p, err)
		}
	}
	var units []busUnit
	obj := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
	call := obj.CallWithContext(ctx, "org.freedesktop.systemd1.Manager.ListUnits", 0)
	if err := call.Store(&units); err != nil {
		return nil, fmt.Errorf("%s: ListUnits: %w", p, err)
	}
	return units, nil
}

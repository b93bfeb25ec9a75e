package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/onus-project/onus/internal/protocol"
)

// PathSnapshot streams a snapshot of the store, for backups.
const PathSnapshot = "/api/v1/admin/snapshot"

// snapshotWriteTimeout bounds each write of a snapshot to the client: the server's overall
// write timeout would cut a large snapshot short, so it is pushed forward chunk by chunk.
const snapshotWriteTimeout = time.Minute

// snapshot streams an etcd snapshot (the bbolt database followed by its SHA-256, as etcdctl
// snapshot save writes it) of the whole store: the embedded server, or the member of an
// external cluster the client is connected to. Only the admin token may take one: it holds
// every credential hash and the registry.
func (a *API) snapshot(w http.ResponseWriter, r *http.Request) {
	if a.opts.Maintenance == nil {
		writeError(w, protocol.Errorf(http.StatusNotImplemented, "this collector has no store maintenance client: snapshots are not available"))
		return
	}
	start := time.Now()
	resp, err := a.opts.Maintenance.SnapshotWithVersion(r.Context())
	if err != nil {
		a.log.Warn("snapshot failed", "err", err)
		writeError(w, protocol.Errorf(http.StatusServiceUnavailable, "store snapshot: %v", err))
		return
	}
	defer resp.Snapshot.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="onus-`+start.UTC().Format("20060102T150405Z")+`.db"`)
	if resp.Header != nil {
		h.Set("Onus-Snapshot-Revision", strconv.FormatInt(resp.Header.Revision, 10))
	}
	if resp.Version != "" {
		h.Set("Onus-Etcd-Version", resp.Version)
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, rerr := resp.Snapshot.Read(buf)
		if k > 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(snapshotWriteTimeout))
			if _, err := w.Write(buf[:k]); err != nil {
				a.log.Warn("snapshot cut short: client gone", "bytes", n, "err", err, "remote", r.RemoteAddr)
				return
			}
			n += int64(k)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			// The status is sent: abort the response so the client sees a broken transfer
			// (its hash check would refuse the partial file anyway).
			a.log.Error("snapshot cut short: store stream failed", "bytes", n, "err", rerr, "remote", r.RemoteAddr)
			panic(http.ErrAbortHandler)
		}
	}
	a.log.Info("snapshot served", "bytes", n, "duration", time.Since(start).Round(time.Millisecond), "remote", r.RemoteAddr)
}

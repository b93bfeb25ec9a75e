package chaos

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/testutil/wait"
)

// member is one etcd server of a cluster, on fixed 127.0.0.1 ports so that it restarts as
// the same member.
type member struct {
	*proc
	clientURL string
}

// cluster is a static etcd cluster of bin/etcd processes.
type cluster struct {
	members   []*member
	endpoints []string
}

// newCluster prepares and starts n members with the given backend quota (0: etcd's default)
// and waits until the cluster has a leader.
func newCluster(t *testing.T, bin string, n int, quota int64) *cluster {
	t.Helper()
	c := &cluster{}
	var peers []string
	type urls struct{ name, client, peer string }
	var us []urls
	for i := range n {
		u := urls{name: fmt.Sprintf("etcd%d", i+1), client: "http://" + freeAddr(t), peer: "http://" + freeAddr(t)}
		us = append(us, u)
		peers = append(peers, u.name+"="+u.peer)
	}
	for _, u := range us {
		args := []string{"--name", u.name, "--data-dir", filepath.Join(t.TempDir(), u.name),
			"--listen-client-urls", u.client, "--advertise-client-urls", u.client,
			"--listen-peer-urls", u.peer, "--initial-advertise-peer-urls", u.peer,
			"--initial-cluster", strings.Join(peers, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "onus-chaos", "--log-level", "error"}
		if quota > 0 {
			args = append(args, "--quota-backend-bytes", strconv.FormatInt(quota, 10))
		}
		m := &member{proc: newProc(t, u.name, filepath.Join(bin, "etcd"), args...), clientURL: u.client}
		c.members = append(c.members, m)
		c.endpoints = append(c.endpoints, u.client)
	}
	for _, m := range c.members {
		m.Start(t)
	}
	c.waitHealthy(t, 60*time.Second)
	return c
}

// healthy says whether a member answers its /health with a leader and no alarm.
func (m *member) healthy() (bool, string) {
	a := do("GET", m.clientURL+"/health", "", nil)
	return a.err == nil && a.status == http.StatusOK && strings.Contains(string(a.body), `"health":"true"`),
		fmt.Sprintf("%s %s", a.statusName(), strings.TrimSpace(string(a.body)))
}

// waitHealthy waits until every running member is healthy.
func (c *cluster) waitHealthy(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	return wait.For(t, timeout, "etcd cluster healthy", func() (bool, string) {
		for _, m := range c.members {
			if m.running() {
				if ok, why := m.healthy(); !ok {
					return false, m.name + ": " + why
				}
			}
		}
		return true, ""
	})
}

// leader returns the index of the member that says it leads.
func (c *cluster) leader(t *testing.T) int {
	t.Helper()
	idx := -1
	wait.For(t, 30*time.Second, "an etcd leader", func() (bool, string) {
		for i, m := range c.members {
			if !m.running() {
				continue
			}
			a := do("GET", m.clientURL+"/metrics", "", nil)
			if v, ok := metric(a.body, "etcd_server_is_leader"); ok && v == 1 {
				idx = i
				return true, ""
			}
		}
		return false, "no member says it leads"
	})
	return idx
}

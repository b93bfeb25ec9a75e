package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"time"

	"github.com/onus-project/onus/agent/hostfs"
)

// apiVersion is the Engine API version asked for: Docker 20.10 and every later release
// answer it.
const apiVersion = "v1.41"

// apiContainer is one entry of GET /containers/json.
type apiContainer struct {
	ID     string `json:"Id"`
	Names  []string
	Image  string
	State  string
	Status string
	Labels map[string]string
}

// apiImage is one entry of GET /images/json.
type apiImage struct {
	ID          string `json:"Id"`
	RepoTags    []string
	RepoDigests []string
	Created     int64
	Labels      map[string]string
}

// dockerAPI lists containers and images through the Engine API on the unix socket sock (a
// host path), within s.timeout.
func (s *Source) dockerAPI(ctx context.Context, sock string, st *store) error {
	path, err := s.root.Resolve(sock)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives:     false,
		MaxIdleConns:          1,
		ResponseHeaderTimeout: s.timeout,
	}}
	defer c.CloseIdleConnections()
	var cs []apiContainer
	if err := apiGet(ctx, c, "/containers/json?all=1", &cs); err != nil {
		return err
	}
	var is []apiImage
	if err := apiGet(ctx, c, "/images/json", &is); err != nil {
		return err
	}
	fromAPI(st, cs, is)
	return nil
}

// apiGet fetches one Engine API path and decodes its JSON into v, the body capped.
func apiGet(ctx context.Context, c *http.Client, p string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/"+apiVersion+p, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", p, resp.Status)
	}
	b, err := hostfs.ReadAll(io.LimitReader(resp.Body, maxResponse+1), "GET "+p, maxResponse)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %w", p, err)
	}
	return nil
}

// exitedRe finds the exit code in a status such as "Exited (137) 2 hours ago".
var exitedRe = regexp.MustCompile(`^Exited \((-?\d+)\)`)

// fromAPI turns the Engine API's lists into the store's records.
func fromAPI(st *store, cs []apiContainer, is []apiImage) {
	for i, c := range cs {
		if len(st.ctrs) == MaxContainers {
			st.skipped += len(cs) - i
			break
		}
		if len(c.Names) == 0 || len(c.Names[0]) < 2 {
			st.skipped++
			continue
		}
		if sandbox(c.Labels) {
			continue
		}
		out := ctr{id: c.ID, name: c.Names[0][1:], image: c.Image, labels: c.Labels, sub: c.State}
		switch c.State {
		case "running", "restarting":
			out.active = "running"
		case "paused", "created":
			out.active = c.State
		default:
			out.active = "exited"
			if m := exitedRe.FindStringSubmatch(c.Status); m != nil && c.State == "exited" {
				out.sub = "exited (" + m[1] + ")"
			}
		}
		st.ctrs = append(st.ctrs, out)
	}
	for i, im := range is {
		if len(st.images) == MaxImages {
			st.skipped += len(is) - i
			break
		}
		id, ok := imageID(im.ID)
		if !ok {
			st.skipped++
			continue
		}
		out := image{id: id, labels: im.Labels}
		out.refs = append(append(out.refs, im.RepoTags...), im.RepoDigests...)
		if im.Created > 0 {
			out.created = time.Unix(im.Created, 0).UTC()
		}
		st.images = append(st.images, out)
	}
}

// Package packaging tests the onus-agent and onus-collector packages: build.sh (the script
// behind "make packages") builds them with real binaries, Debian's dpkg-deb and rpm read them
// back, and dpkg installs, upgrades, removes and purges the .deb packages in scratch roots with
// their maintainer scripts running (dpkg --root with --force-script-chrootless, where the
// scripts act on $DPKG_ROOT); systemd-analyze verifies the installed units.
package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testVersion is what git describe would print for a build 4 commits after tag v1.2.3-rc.1;
// testPkgVersion is the version both package formats carry for it.
const (
	testVersion    = "v1.2.3-rc.1-4-g0123abc"
	testPkgVersion = "1.2.3~rc.1+git4.g0123abc"
)

// need returns the path of a tool the test cannot do without, or fails naming the Debian
// package that provides it.
func need(t *testing.T, tool, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, err := os.Stat(filepath.Join(dir, tool)); err == nil {
				return filepath.Join(dir, tool)
			}
		}
		t.Fatalf("%s not found: install it with apt-get install %s (.ci/run does)", tool, debianPackage)
	}
	return p
}

// command runs a command and returns its combined output, failing the test on an error.
func command(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := commandErr(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func commandErr(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// stdout runs a command and returns its standard output alone.
func stdout(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return out
}

// repoFile reads a file by its path from the repository root.
func repoFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPackageVersion(t *testing.T) {
	tests := []struct{ describe, want string }{
		{"v1.2.3", "1.2.3"},
		{"v1.2.3-rc.1", "1.2.3~rc.1"},
		{"v1.2.3-4-gabc1234", "1.2.3+git4.gabc1234"},
		{"v1.2.3-rc.1-4-gabc1234-dirty", "1.2.3~rc.1+git4.gabc1234.dirty"},
		{"v1.2.3-dirty", "1.2.3+dirty"},
		{"6cb3532", "0.0.0+git.g6cb3532"},
		{"6cb3532-dirty", "0.0.0+git.g6cb3532.dirty"},
		{"dev", "0.0.0+dev"},
		{"2.0_beta/x", "2.0.beta.x"},
	}
	for _, tt := range tests {
		got := strings.TrimSpace(command(t, nil, "sh", "build.sh", "--version", tt.describe))
		if got != tt.want {
			t.Errorf("build.sh --version %s = %q, want %q", tt.describe, got, tt.want)
		}
	}
	// Each version sorts after the previous one, for dpkg and for rpm alike.
	order := []string{"0.0.0+dev", "0.0.0+git.g6cb3532", "1.2.3~rc.1", "1.2.3~rc.1+git4.gabc1234", "1.2.3",
		"1.2.3+git4.gabc1234", "1.2.3+git4.gabc1234.dirty", "1.2.4~rc.1"}
	dpkg := need(t, "dpkg", "dpkg")
	rpm := need(t, "rpm", "rpm")
	for i := 1; i < len(order); i++ {
		a, b := order[i-1], order[i]
		if _, err := commandErr(nil, dpkg, "--compare-versions", a, "lt", b); err != nil {
			t.Errorf("dpkg: %s does not sort before %s", a, b)
		}
		got := strings.TrimSpace(command(t, nil, rpm, "--eval", fmt.Sprintf(`%%{lua: print(rpm.vercmp(%q, %q))}`, a, b)))
		if got != "-1" {
			t.Errorf("rpm: vercmp(%s, %s) = %s, want -1", a, b, got)
		}
	}
}

func TestScriptsParse(t *testing.T) {
	scripts, err := filepath.Glob("scripts/*.sh")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, s := range append(scripts, "build.sh") {
		command(t, nil, "/bin/sh", "-n", s)
	}
}

// entry is a file or directory a package installs.
type entry struct {
	path         string
	dir          bool
	mode         fs.FileMode
	owner, group string
	// src is the repository file whose bytes it carries; empty for a directory or a binary.
	src  string
	conf bool
}

// contents lists what a package installs; unitDir is /lib/systemd/system (deb) or
// /usr/lib/systemd/system (rpm).
func contents(name, unitDir string) []entry {
	switch name {
	case "agent":
		return []entry{
			{path: "/usr/bin/onus-agent", mode: 0o755, owner: "root", group: "root"},
			{path: unitDir + "/onus-agent.service", mode: 0o644, owner: "root", group: "root", src: "deploy/systemd/onus-agent.service"},
			{path: "/etc/onus", dir: true, mode: 0o755, owner: "root", group: "root"},
			{path: "/etc/onus/agent.yaml", mode: 0o644, owner: "root", group: "root", src: "deploy/config/agent.yaml", conf: true},
			{path: "/var/lib/onus-agent", dir: true, mode: 0o700, owner: "root", group: "root"},
		}
	case "collector":
		return []entry{
			{path: "/usr/bin/onus-collector", mode: 0o755, owner: "root", group: "root"},
			{path: unitDir + "/onus-collector.service", mode: 0o644, owner: "root", group: "root", src: "deploy/systemd/onus-collector.service"},
			{path: "/usr/lib/sysusers.d/onus.conf", mode: 0o644, owner: "root", group: "root", src: "deploy/packaging/onus.sysusers.conf"},
			{path: "/etc/onus", dir: true, mode: 0o755, owner: "root", group: "root"},
			{path: "/etc/onus/collector.yaml", mode: 0o640, owner: "root", group: "onus", src: "deploy/config/collector.yaml", conf: true},
			{path: "/var/lib/onus-collector", dir: true, mode: 0o750, owner: "onus", group: "onus"},
		}
	}
	panic(name)
}

// scripts maps the maintainer scripts of a package, by deb name, to their repository files.
func scripts(name string) map[string]string {
	m := map[string]string{
		"postinst": "deploy/packaging/scripts/" + name + "-postinst.sh",
		"prerm":    "deploy/packaging/scripts/" + name + "-prerm.sh",
		"postrm":   "deploy/packaging/scripts/" + name + "-postrm.sh",
	}
	if name == "collector" {
		m["preinst"] = "deploy/packaging/scripts/collector-preinst.sh"
	}
	return m
}

// tarFiles reads a tar stream: headers and the contents of regular files, by path without
// the leading "./".
func tarFiles(t *testing.T, data []byte) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	hdrs, bodies := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, bodies
		}
		if err != nil {
			t.Fatal(err)
		}
		p := "/" + strings.Trim(strings.TrimPrefix(h.Name, "."), "/")
		hdrs[p] = h
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			bodies[p] = b
		}
	}
}

// fields parses "Key: value" lines.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, " ") {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

type built struct {
	deb, rpm map[string]string // by agent, collector
}

// build runs build.sh for this machine's architecture into a scratch directory.
func build(t *testing.T) built {
	t.Helper()
	goCmd := need(t, "go", "golang (or Go from go.dev)")
	need(t, "dpkg-deb", "dpkg")
	arch := runtime.GOARCH
	if arch != "amd64" && arch != "arm64" {
		t.Fatalf("packages are built for amd64 and arm64, not %s", arch)
	}
	tmp := t.TempDir()
	start := time.Now()
	command(t, []string{"VERSION=" + testVersion, "ARCH=" + arch, "GO=" + goCmd, "OUT=" + filepath.Join(tmp, "dist"),
		"BIN_DIR=" + filepath.Join(tmp, "bin"), "PACKAGERS=deb rpm"}, "sh", "build.sh")
	t.Logf("build.sh: binaries and four packages in %v", time.Since(start).Round(time.Millisecond))
	rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]
	b := built{deb: map[string]string{}, rpm: map[string]string{}}
	for _, name := range []string{"agent", "collector"} {
		b.deb[name] = filepath.Join(tmp, "dist", fmt.Sprintf("onus-%s_%s_%s.deb", name, testPkgVersion, arch))
		b.rpm[name] = filepath.Join(tmp, "dist", fmt.Sprintf("onus-%s-%s-1.%s.rpm", name, testPkgVersion, rpmArch))
		for _, f := range []string{b.deb[name], b.rpm[name]} {
			if _, err := os.Stat(f); err != nil {
				entries, _ := os.ReadDir(filepath.Join(tmp, "dist"))
				t.Fatalf("build.sh made no %s (dist holds %v)", filepath.Base(f), entries)
			}
		}
	}
	return b
}

func TestPackages(t *testing.T) {
	b := build(t)
	for _, name := range []string{"agent", "collector"} {
		t.Run(name+"/deb", func(t *testing.T) { checkDeb(t, name, b.deb[name]) })
		t.Run(name+"/rpm", func(t *testing.T) { checkRPM(t, name, b.rpm[name]) })
	}
	t.Run("agent/install", func(t *testing.T) { installAgent(t, b.deb["agent"]) })
	t.Run("collector/install", func(t *testing.T) { installCollector(t, b.deb["collector"]) })
	for _, name := range []string{"agent", "collector"} {
		t.Run(name+"/rpm-scriptlets", func(t *testing.T) { rpmScriptlets(t, name, b.rpm[name]) })
	}
}

func checkDeb(t *testing.T, name, deb string) {
	info := fields(command(t, nil, "dpkg-deb", "--field", deb))
	want := map[string]string{"Package": "onus-" + name, "Version": testPkgVersion, "Architecture": runtime.GOARCH,
		"Section": "admin", "Priority": "optional"}
	if name == "collector" {
		want["Pre-Depends"] = "adduser"
	}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("%s: %s: %q, want %q", filepath.Base(deb), k, info[k], v)
		}
	}
	if name == "agent" && (info["Depends"] != "" || info["Pre-Depends"] != "") {
		t.Errorf("onus-agent depends on %q %q; a static binary needs nothing", info["Pre-Depends"], info["Depends"])
	}
	if !strings.Contains(info["Maintainer"], "<") {
		t.Errorf("Maintainer %q is not Name <address>", info["Maintainer"])
	}

	hdrs, bodies := tarFiles(t, stdout(t, "dpkg-deb", "--fsys-tarfile", deb))
	spec := contents(name, "/lib/systemd/system")
	for _, e := range spec {
		h, ok := hdrs[e.path]
		if !ok {
			t.Errorf("%s is not in the package", e.path)
			continue
		}
		checkHeader(t, e, h.FileInfo().Mode(), h.Uname, h.Gname)
		if e.src != "" && !bytes.Equal(bodies[e.path], repoFile(t, e.src)) {
			t.Errorf("%s differs from %s", e.path, e.src)
		}
	}
	// Nothing else: the parents of those are root's 0755 directories.
	for p, h := range hdrs {
		if slices.ContainsFunc(spec, func(e entry) bool { return e.path == p }) || p == "/" {
			continue
		}
		if h.Typeflag != tar.TypeDir || h.FileInfo().Mode().Perm() != 0o755 || h.Uname != "root" || h.Gname != "root" {
			t.Errorf("unexpected %s in the package (%v %s:%s)", p, h.FileInfo().Mode(), h.Uname, h.Gname)
		}
	}
	checkBinary(t, name, bodies["/usr/bin/onus-"+name])
	checkUnit(t, name, bodies["/lib/systemd/system/onus-"+name+".service"])

	ctrlHdrs, ctrl := tarFiles(t, stdout(t, "dpkg-deb", "--ctrl-tarfile", deb))
	var conffiles []string
	for _, e := range spec {
		if e.conf {
			conffiles = append(conffiles, e.path)
		}
	}
	if got := strings.Fields(string(ctrl["/conffiles"])); !slices.Equal(got, conffiles) {
		t.Errorf("conffiles: %q, want %q", got, conffiles)
	}
	sc := scripts(name)
	for _, s := range []string{"preinst", "postinst", "prerm", "postrm"} {
		src, ok := sc[s]
		if !ok {
			if _, has := ctrl["/"+s]; has {
				t.Errorf("the package has a %s script; it should have none", s)
			}
			continue
		}
		if !bytes.Equal(ctrl["/"+s], repoFile(t, src)) {
			t.Errorf("%s differs from %s", s, src)
		}
		if m := ctrlHdrs["/"+s]; m == nil || m.FileInfo().Mode().Perm() != 0o755 {
			t.Errorf("%s is not an executable script", s)
		}
	}
}

func checkHeader(t *testing.T, e entry, mode fs.FileMode, owner, group string) {
	t.Helper()
	if mode.IsDir() != e.dir || mode.Perm() != e.mode || owner != e.owner || group != e.group {
		t.Errorf("%s: %v %s:%s, want %v%v %s:%s", e.path, mode, owner, group,
			map[bool]string{true: "d", false: "-"}[e.dir], e.mode, e.owner, e.group)
	}
}

// checkBinary runs the packaged binary: it is this machine's, and reports the version the
// packages were built from.
func checkBinary(t *testing.T, name string, bin []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "onus-"+name)
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if out := command(t, nil, p, "version"); !strings.Contains(out, "onus-"+name+" "+testVersion) {
		t.Errorf("onus-%s version: %q, want onus-%s %s", name, out, name, testVersion)
	}
}

func checkRPM(t *testing.T, name, rpm string) {
	rpmCmd := need(t, "rpm", "rpm")
	q := func(format string) string {
		return string(stdout(t, rpmCmd, "-qp", "--nosignature", "--qf", format, rpm))
	}
	rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	if got, want := q("%{NAME} %{VERSION} %{RELEASE} %{ARCH}"), fmt.Sprintf("onus-%s %s 1 %s", name, testPkgVersion, rpmArch); got != want {
		t.Errorf("rpm header: %q, want %q", got, want)
	}
	var files []string
	spec := contents(name, "/usr/lib/systemd/system")
	for _, l := range strings.Split(strings.TrimRight(q(`[%{FILENAMES}\t%{FILEMODES}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\t%{FILEFLAGS:fflags}\n]`), "\n"), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 5 {
			t.Fatalf("rpm file line %q", l)
		}
		files = append(files, f[0])
		i := slices.IndexFunc(spec, func(e entry) bool { return e.path == f[0] })
		if i < 0 {
			t.Errorf("unexpected %s in the rpm", f[0])
			continue
		}
		e := spec[i]
		m, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		mode := fs.FileMode(m & 0o777)
		if m&syscall.S_IFMT == syscall.S_IFDIR {
			mode |= fs.ModeDir
		}
		checkHeader(t, e, mode, f[2], f[3])
		// c: %config, n: noreplace.
		if want := map[bool]string{true: "cn", false: ""}[e.conf]; f[4] != want {
			t.Errorf("%s: rpm file flags %q, want %q", e.path, f[4], want)
		}
	}
	var want []string
	for _, e := range spec {
		want = append(want, e.path)
	}
	slices.Sort(want)
	slices.Sort(files)
	if !slices.Equal(files, want) {
		t.Errorf("rpm files:\n%q\nwant\n%q", files, want)
	}
	requires := strings.Fields(string(stdout(t, rpmCmd, "-qp", "--nosignature", "--requires", rpm)))
	requires = slices.DeleteFunc(requires, func(r string) bool { return strings.HasPrefix(r, "rpmlib(") })
	if name == "collector" && !slices.Equal(requires, []string{"/usr/sbin/groupadd", "/usr/sbin/useradd"}) || name == "agent" && len(requires) > 0 {
		t.Errorf("rpm requires %q", requires)
	}
	tags := map[string]string{"preinst": "PREIN", "postinst": "POSTIN", "prerm": "PREUN", "postrm": "POSTUN"}
	sc := scripts(name)
	for deb, tag := range tags {
		got := q("%{" + tag + "}")
		src, ok := sc[deb]
		if !ok {
			if got != "(none)" {
				t.Errorf("rpm %%%s: %q, want none", strings.ToLower(tag), got)
			}
			continue
		}
		if strings.TrimSpace(got) != strings.TrimSpace(string(repoFile(t, src))) {
			t.Errorf("rpm %s scriptlet differs from %s", tag, src)
		}
		if prog := q("%{" + tag + "PROG}"); prog != "/bin/sh" {
			t.Errorf("rpm %s scriptlet runs with %q, want /bin/sh", tag, prog)
		}
	}
}

// unit parses a systemd unit's directives: section.key → values in order (a directive given
// twice keeps both, as systemd does for lists).
func unit(data []byte) map[string][]string {
	m := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[':
			section = strings.Trim(l, "[]")
		default:
			k, v, _ := strings.Cut(l, "=")
			m[section+"."+strings.TrimSpace(k)] = append(m[section+"."+strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return m
}

// checkUnit checks the hardening of a shipped unit directive by directive.
func checkUnit(t *testing.T, name string, data []byte) {
	t.Helper()
	u := unit(data)
	want := map[string]string{
		"ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
		"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
		"ProtectControlGroups": "yes", "ProtectClock": "yes", "RestrictNamespaces": "yes", "RestrictRealtime": "yes",
		"RestrictSUIDSGID": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
		"SystemCallArchitectures": "native", "Restart": "on-failure", "UMask": "0077", "AmbientCapabilities": "",
		"StateDirectory": "onus-" + name,
	}
	families := []string{"AF_UNIX", "AF_INET", "AF_INET6"}
	switch name {
	case "agent":
		maps.Copy(want, map[string]string{"ExecStart": "/usr/bin/onus-agent run --config /etc/onus/agent.yaml",
			"User": "root", "ProtectHome": "read-only", "StateDirectoryMode": "0700"})
		families = append(families, "AF_NETLINK")
		if caps := strings.Fields(strings.Join(u["Service.CapabilityBoundingSet"], " ")); !slices.Equal(caps, []string{"CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"}) {
			t.Errorf("onus-agent.service: CapabilityBoundingSet %q, want CAP_DAC_READ_SEARCH CAP_SYS_PTRACE", caps)
		}
	case "collector":
		maps.Copy(want, map[string]string{"ExecStart": "/usr/bin/onus-collector serve --config /etc/onus/collector.yaml",
			"User": "onus", "Group": "onus", "ProtectHome": "yes", "StateDirectoryMode": "0750", "CapabilityBoundingSet": "",
			"ProtectHostname": "yes", "ProtectProc": "invisible"})
		if n, err := strconv.Atoi(strings.Join(u["Service.LimitNOFILE"], "")); err != nil || n < 65536 {
			t.Errorf("onus-collector.service: LimitNOFILE %q, want at least 65536", u["Service.LimitNOFILE"])
		}
		if len(u["Service.DynamicUser"]) > 0 {
			t.Errorf("onus-collector.service: DynamicUser= set; etcd's data needs a stable owner")
		}
	}
	for k, v := range want {
		if got := u["Service."+k]; !slices.Equal(got, []string{v}) {
			t.Errorf("onus-%s.service: %s=%q, want %q once", name, k, got, v)
		}
	}
	if got := strings.Fields(strings.Join(u["Service.RestrictAddressFamilies"], " ")); !slices.Equal(got, families) {
		t.Errorf("onus-%s.service: RestrictAddressFamilies %q, want %q", name, got, families)
	}
	if got := u["Service.SystemCallFilter"]; len(got) == 0 || got[0] != "@system-service" {
		t.Errorf("onus-%s.service: SystemCallFilter %q, want @system-service first", name, got)
	}
	if rs, err := time.ParseDuration(strings.Join(u["Service.RestartSec"], "")); err != nil || rs <= 0 {
		t.Errorf("onus-%s.service: RestartSec %q", name, u["Service.RestartSec"])
	}
	// Writable is the state directory alone.
	for _, k := range []string{"ReadWritePaths", "ReadWriteDirectories"} {
		if len(u["Service."+k]) > 0 {
			t.Errorf("onus-%s.service: %s=%q; the state directory is the only writable path", name, k, u["Service."+k])
		}
	}
	if got := u["Install.WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("onus-%s.service: WantedBy=%q", name, got)
	}
}

// scratchRoot makes an empty root for dpkg --root: a dpkg database and the account files of a
// base system. A root's own login.defs is left out: useradd --prefix uses its defaults.
func scratchRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("installing packages into a scratch root (dpkg --root) needs root, to give files their owners; the package contents were checked above")
	}
	need(t, "dpkg", "dpkg")
	need(t, "useradd", "passwd")
	need(t, "systemctl", "systemd")
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{
		"var/lib/dpkg/status": "",
		"etc/passwd":          "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":           "root:x:0:\n",
		"etc/shadow":          "root:*:19000:0:99999:7:::\n",
		"etc/gshadow":         "root:*::\n",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "etc/passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "etc/group"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// dpkg runs dpkg on a scratch root with the maintainer scripts outside a chroot
// (DPKG_ROOT=root); the adduser Pre-Depends is not installed there, hence --force-depends.
func dpkg(t *testing.T, root string, args ...string) string {
	t.Helper()
	path := "PATH=" + os.Getenv("PATH") + ":/usr/sbin:/sbin"
	return command(t, []string{path}, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless",
		"--force-depends", "--log=/dev/null"}, args...)...)
}

// status returns dpkg's view of a package in a root: status, version and conffiles.
func status(t *testing.T, root, pkg string) string {
	t.Helper()
	out, _ := commandErr(nil, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W",
		"-f=${db:Status-Status} ${Version}\n${Conffiles}\n", pkg)
	return out
}

func exists(root, p string) bool {
	_, err := os.Lstat(filepath.Join(root, p))
	return err == nil
}

// checkInstalled compares the installed files with the package's contents; owners by the
// uid and gid the root's account files give the names.
func checkInstalled(t *testing.T, root, name, unitDir string) {
	t.Helper()
	ids := func(file string) map[string]uint32 {
		m := map[string]uint32{}
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Split(l, ":"); len(f) > 3 {
				id, _ := strconv.ParseUint(f[2], 10, 32)
				m[f[0]] = uint32(id)
			}
		}
		return m
	}
	users, groups := ids("etc/passwd"), ids("etc/group")
	for _, e := range contents(name, unitDir) {
		fi, err := os.Lstat(filepath.Join(root, e.path))
		if err != nil {
			t.Errorf("installed: %v", err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		uid, uok := users[e.owner]
		gid, gok := groups[e.group]
		if !uok || !gok || st.Uid != uid || st.Gid != gid || fi.IsDir() != e.dir || fi.Mode().Perm() != e.mode {
			t.Errorf("installed %s: %v %d:%d, want %v %s:%s (%d:%d)", e.path, fi.Mode(), st.Uid, st.Gid, e.mode, e.owner, e.group, uid, gid)
		}
		if e.src != "" {
			if b, err := os.ReadFile(filepath.Join(root, e.path)); err != nil || !bytes.Equal(b, repoFile(t, e.src)) {
				t.Errorf("installed %s differs from %s (%v)", e.path, e.src, err)
			}
		}
	}
}

// verifyUnit runs systemd-analyze verify on the installed unit: its syntax, its directives and
// that its ExecStart binary exists in the root. The standard targets it refers to come from
// this machine's systemd. It also reports the unit's exposure score.
func verifyUnit(t *testing.T, root, name string, maxExposure float64) {
	t.Helper()
	need(t, "systemd-analyze", "systemd")
	dst := filepath.Join(root, "usr/lib/systemd/system")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, dir := range []string{"/lib/systemd/system", "/usr/lib/systemd/system"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.target"))
		targets = append(targets, m...)
	}
	if len(targets) == 0 {
		t.Fatal("no systemd targets in /lib/systemd/system: install them with apt-get install systemd")
	}
	for _, f := range targets {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !exists(dst, filepath.Base(f)) {
			if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	unitName := "onus-" + name + ".service"
	// Warnings (an unknown directive, a bad value) do not change the exit status: any output
	// is a failure.
	if out, err := commandErr(nil, "systemd-analyze", "verify", "--root="+root, "--man=no", unitName); err != nil || out != "" {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitName, err, out)
	}
	out, err := commandErr(nil, "systemd-analyze", "security", "--offline=true", "--root="+root, unitName)
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security %s: %v\n%s", unitName, err, out)
	}
	score, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security %s: exposure %.1f (0 is best, 10 worst)", unitName, score)
	if score > maxExposure {
		t.Errorf("%s: exposure %.1f, want at most %.1f\n%s", unitName, score, maxExposure, out)
	}
}

func installAgent(t *testing.T, deb string) {
	root := scratchRoot(t)
	wants := "etc/systemd/system/multi-user.target.wants/onus-agent.service"

	out := dpkg(t, root, "-i", deb)
	for _, s := range []string{"onus-agent: not started", "set collector_url in /etc/onus/agent.yaml",
		"copy the fleet's enroll secret", "install -m 0600 enroll-secret /etc/onus/enroll-secret"} {
		if !strings.Contains(out, s) {
			t.Errorf("install of an unconfigured agent does not say %q:\n%s", s, out)
		}
	}
	if st := status(t, root, "onus-agent"); !strings.HasPrefix(st, "installed "+testPkgVersion+"\n /etc/onus/agent.yaml ") {
		t.Errorf("dpkg status:\n%s", st)
	}
	if l, err := os.Readlink(filepath.Join(root, wants)); err != nil || l != "/lib/systemd/system/onus-agent.service" {
		t.Errorf("onus-agent.service is not enabled: %q %v", l, err)
	}
	checkInstalled(t, root, "agent", "/lib/systemd/system")
	verifyUnit(t, root, "agent", 3.0)
	// The installed binary with the installed configuration: only collector_url is missing.
	if out, err := commandErr(nil, filepath.Join(root, "usr/bin/onus-agent"), "run", "--config", filepath.Join(root, "etc/onus/agent.yaml")); err == nil ||
		!strings.Contains(out, "--collector-url is required") {
		t.Errorf("onus-agent run --config <installed agent.yaml>: %v\n%s", err, out)
	}

	// Configured, then upgraded (the same version again): the edited configuration is kept,
	// the unit stays enabled, and nothing is missing any more.
	conf := filepath.Join(root, "etc/onus/agent.yaml")
	edited := append(repoFile(t, "deploy/config/agent.yaml"), "collector_url: https://onus.example.com:8443\n"...)
	if err := os.WriteFile(conf, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/onus/enroll-secret"), []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = dpkg(t, root, "-i", deb)
	if strings.Contains(out, "not started") || strings.Contains(out, "Created symlink") {
		t.Errorf("upgrade of a configured agent:\n%s", out)
	}
	if b, _ := os.ReadFile(conf); !bytes.Equal(b, edited) {
		t.Errorf("upgrade replaced the edited /etc/onus/agent.yaml")
	}
	if !exists(root, wants) {
		t.Errorf("upgrade disabled onus-agent.service")
	}

	// Removed: disabled, the program gone, configuration and state kept; purged: all gone.
	if err := os.WriteFile(filepath.Join(root, "var/lib/onus-agent/credential"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dpkg(t, root, "-r", "onus-agent")
	if exists(root, wants) || exists(root, "usr/bin/onus-agent") || exists(root, "lib/systemd/system/onus-agent.service") {
		t.Errorf("after removal the unit is still enabled or the program still there")
	}
	if !exists(root, "etc/onus/agent.yaml") || !exists(root, "var/lib/onus-agent/credential") {
		t.Errorf("removal (not purge) deleted the configuration or the state")
	}
	dpkg(t, root, "-P", "onus-agent")
	if exists(root, "etc/onus/agent.yaml") || exists(root, "var/lib/onus-agent") {
		t.Errorf("purge left the configuration or the state directory")
	}
	if !exists(root, "etc/onus/enroll-secret") {
		t.Errorf("purge deleted the enroll secret, which the package did not install")
	}
	if st := status(t, root, "onus-agent"); strings.HasPrefix(st, "installed") {
		t.Errorf("after purge, dpkg status: %s", st)
	}
}

func installCollector(t *testing.T, deb string) {
	root := scratchRoot(t)
	wants := "etc/systemd/system/multi-user.target.wants/onus-collector.service"
	// Configured before the package comes: the secrets and TLS files the shipped
	// collector.yaml names are in place.
	for _, f := range []string{"etc/onus/enroll-secret", "etc/onus/admin-token", "etc/onus/tls/collector.pem", "etc/onus/tls/collector-key.pem"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), []byte("0123456789abcdef0123\n"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "etc/onus"), 0o755); err != nil {
		t.Fatal(err)
	}

	out := dpkg(t, root, "-i", deb)
	if !strings.Contains(out, "onus-collector: configured; start it with: systemctl start onus-collector") || strings.Contains(out, "not started") {
		t.Errorf("install of a configured collector:\n%s", out)
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	m := regexp.MustCompile(`(?m)^onus:x:(\d+):(\d+):[^:]*:([^:]*):(.*)$`).FindSubmatch(passwd)
	if m == nil {
		t.Fatalf("no user onus in the root's /etc/passwd:\n%s", passwd)
	}
	if uid, _ := strconv.Atoi(string(m[1])); uid >= 1000 || uid == 0 || string(m[4]) != "/usr/sbin/nologin" {
		t.Errorf("user onus: uid %s, shell %s; want a system user without a login shell", m[1], m[4])
	}
	if l, err := os.Readlink(filepath.Join(root, wants)); err != nil || l != "/lib/systemd/system/onus-collector.service" {
		t.Errorf("onus-collector.service is not enabled: %q %v", l, err)
	}
	if st := status(t, root, "onus-collector"); !strings.HasPrefix(st, "installed "+testPkgVersion+"\n /etc/onus/collector.yaml ") {
		t.Errorf("dpkg status:\n%s", st)
	}
	checkInstalled(t, root, "collector", "/lib/systemd/system")
	verifyUnit(t, root, "collector", 2.0)

	// Upgraded with the admin token gone: the script names what is missing, and only that.
	if err := os.Remove(filepath.Join(root, "etc/onus/admin-token")); err != nil {
		t.Fatal(err)
	}
	out = dpkg(t, root, "-i", deb)
	if !strings.Contains(out, "onus-collector: not started") || !strings.Contains(out, "create the admin token /etc/onus/admin-token") ||
		strings.Contains(out, "enroll secret") || strings.Contains(out, "TLS file") {
		t.Errorf("upgrade of a collector without its admin token:\n%s", out)
	}
	if strings.Count(string(passwd), "onus:") != 1 {
		t.Errorf("user onus created twice")
	}

	// Removed, then purged: the data goes on purge only; the user onus and the secrets stay.
	if err := os.WriteFile(filepath.Join(root, "var/lib/onus-collector/member"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dpkg(t, root, "-r", "onus-collector")
	if exists(root, wants) || exists(root, "usr/bin/onus-collector") || !exists(root, "var/lib/onus-collector/member") {
		t.Errorf("after removal: enabled %v, program %v, data %v", exists(root, wants), exists(root, "usr/bin/onus-collector"),
			exists(root, "var/lib/onus-collector/member"))
	}
	dpkg(t, root, "-P", "onus-collector")
	if exists(root, "var/lib/onus-collector") || exists(root, "etc/onus/collector.yaml") {
		t.Errorf("purge left the data directory or the configuration")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !bytes.Contains(b, []byte("\nonus:")) || !exists(root, "etc/onus/enroll-secret") {
		t.Errorf("purge removed the user onus or the enroll secret")
	}
}

// rpmScriptlets runs the rpm's own scriptlets, taken from its header, with the arguments rpm
// gives them (install 1, upgrade 2 then 1, erase 0) on a scratch root holding the files as the
// rpm lays them out. rpm --root would run them in a chroot without a shell, so they run with
// DPKG_ROOT pointing at the root, as for a chrootless dpkg.
func rpmScriptlets(t *testing.T, name, rpm string) {
	root := scratchRoot(t)
	rpmCmd := need(t, "rpm", "rpm")
	unitPath := "/usr/lib/systemd/system/onus-" + name + ".service"
	for _, e := range contents(name, "/usr/lib/systemd/system") {
		p := filepath.Join(root, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case e.dir:
			err = os.Mkdir(p, e.mode)
		case e.src != "":
			err = os.WriteFile(p, repoFile(t, e.src), e.mode)
		default:
			err = os.WriteFile(p, []byte("#!/bin/sh\n"), e.mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	env := []string{"DPKG_ROOT=" + root, "PATH=" + os.Getenv("PATH") + ":/usr/sbin:/sbin"}
	run := func(tag, arg string) string {
		t.Helper()
		script := stdout(t, rpmCmd, "-qp", "--nosignature", "--qf", "%{"+tag+"}", rpm)
		if string(script) == "(none)" {
			return ""
		}
		f := filepath.Join(dir, tag)
		if err := os.WriteFile(f, script, 0o755); err != nil {
			t.Fatal(err)
		}
		return command(t, env, "/bin/sh", f, arg)
	}
	wants := "etc/systemd/system/multi-user.target.wants/onus-" + name + ".service"

	// Install.
	run("PREIN", "1")
	out := run("POSTIN", "1")
	if !strings.Contains(out, "onus-"+name+": not started") {
		t.Errorf("%%post 1 of an unconfigured %s:\n%s", name, out)
	}
	if l, err := os.Readlink(filepath.Join(root, wants)); err != nil || l != unitPath {
		t.Errorf("%%post 1 did not enable the unit: %q %v", l, err)
	}
	if name == "collector" {
		checkInstalled(t, root, name, "/usr/lib/systemd/system")
	}
	// Upgrade: the new package's %pre and %post with 2, the old one's %preun and %postun with 1.
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	run("PREIN", "2")
	if out := run("POSTIN", "2"); strings.Contains(out, "Created symlink") {
		t.Errorf("%%post 2 enabled the unit again:\n%s", out)
	}
	run("PREUN", "1")
	run("POSTUN", "1")
	if !exists(root, wants) {
		t.Errorf("an upgrade disabled the unit")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !bytes.Equal(b, passwd) {
		t.Errorf("%%pre 2 changed /etc/passwd:\n%s", b)
	}
	// Erase: disabled; the state directory stays (rpm has no purge).
	run("PREUN", "0")
	run("POSTUN", "0")
	if exists(root, wants) {
		t.Errorf("%%preun 0 did not disable the unit")
	}
	if !exists(root, "var/lib/onus-"+name) {
		t.Errorf("%%postun 0 removed the state directory")
	}
}

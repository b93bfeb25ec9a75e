//go:build linux

package winprog

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onus-project/onus/internal/model"
)

const (
	wine64     = "/usr/lib/wine/wine64"
	wineserver = "/usr/lib/wine/wineserver64"
)

// TestWine runs the cross-compiled agent under Wine, for real: a prefix of its own, the
// ProcessPrng DLL Go needs and Wine 8 lacks (testdata/wine/processprng.c, for the test
// only), the Acme Widget MSI built with wixl and installed by Wine's msiexec, a program
// registered in the 32-bit view and one in the user's hive with reg add; then
// "onus-agent.exe inventory" must list all three as this source reads them, and Wine's own
// PlugPlay service as the winsvc source reads it. It logs the CPU
// time and peak RSS of each inventory pass: wine64 becomes the Windows process, so its
// resource usage is the agent's with the Wine libraries' work in that process (loading
// them included), not wineserver's.
func TestWine(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("Wine runs the Windows agent on linux/amd64 only")
	}
	for _, tool := range []string{wine64, wineserver, "wixl", "x86_64-w64-mingw32-gcc", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install wine64 msitools wixl gcc-mingw-w64-x86-64-win32): %v", tool, err)
		}
	}
	if testing.Short() {
		t.Skip("-short: the Wine test takes about half a minute")
	}
	dir := t.TempDir()
	prefix := filepath.Join(dir, "prefix")
	env := append(os.Environ(), "WINEPREFIX="+prefix, "WINEDEBUG=-all")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(wd string, name string, args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...) // killed by PID when ctx ends
		cmd.Env, cmd.Dir = env, wd
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
		}
		return out
	}
	t.Cleanup(func() {
		// Every Wine process of this prefix, and only those: wineserver -k ends the prefix's.
		for _, arg := range []string{"-k", "-w"} {
			cmd := exec.Command(wineserver, arg)
			cmd.Env = env
			_ = cmd.Run()
		}
	})
	run(dir, wine64, "wineboot", "--init")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	wineDir := filepath.Join(wd, "testdata", "wine")
	dll := filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	run(wineDir, "x86_64-w64-mingw32-gcc", "-shared", "-o", dll, "processprng.c", "processprng.def", "-ladvapi32")
	run(wineDir, "wixl", "-a", "x64", "-o", filepath.Join(dir, "acme.msi"), "acme.wxs")
	run(dir, wine64, "msiexec", "/i", "acme.msi", "/qn")
	u32 := `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\Legacy32`
	run(dir, wine64, "reg", "add", u32, "/v", "DisplayName", "/d", "Legacy Tool", "/reg:32", "/f")
	run(dir, wine64, "reg", "add", u32, "/v", "DisplayVersion", "/d", "4.0", "/reg:32", "/f")
	hkcu := `HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\AcmeSync`
	run(dir, wine64, "reg", "add", hkcu, "/v", "DisplayName", "/d", "Acme Sync", "/f")
	run(dir, wine64, "reg", "add", hkcu, "/v", "DisplayVersion", "/d", "3.1.0", "/f")

	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "agent.exe"), "github.com/onus-project/onus/agent")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Without --state-dir the agent keeps its state in %ProgramData%\Onus\agent, as Wine
	// sets ProgramData (C:\ProgramData); the flag's help quotes it.
	help := exec.CommandContext(ctx, wine64, "agent.exe", "inventory", "-h")
	help.Env, help.Dir = env, dir
	if out, _ := help.CombinedOutput(); !bytes.Contains(out, []byte(`(default "C:\\ProgramData\\Onus\\agent")`)) {
		t.Errorf("the default state directory is not under %%ProgramData%%:\n%s", out)
	}
	var inv model.Inventory
	for pass := 1; pass <= 3; pass++ {
		cmd := exec.CommandContext(ctx, wine64, "agent.exe", "inventory", "--compact", "--sources", "winprog,winsvc", "--state-dir", `C:\onus`)
		cmd.Env, cmd.Dir = env, dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		out, err := cmd.Output()
		elapsed := time.Since(start)
		if err != nil {
			t.Fatalf("pass %d: %v\n%s", pass, err, stderr.Bytes())
		}
		inv = model.Inventory{}
		if err := json.Unmarshal(out, &inv); err != nil {
			t.Fatalf("pass %d: %v\n%s", pass, err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			t.Logf("pass %d: wine64 agent.exe CPU user %v system %v, max RSS %d KiB, %v wall", pass,
				time.Duration(ru.Utime.Nano()).Round(time.Microsecond), time.Duration(ru.Stime.Nano()).Round(time.Microsecond),
				ru.Maxrss, elapsed.Round(time.Millisecond))
		}
	}
	me := ""
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	found := map[string]model.Package{}
	for _, p := range inv.Software {
		found[p.Name] = p
	}
	if p := found["Acme Widget"]; p.Title() != "win:Acme Widget" || p.Version != "1.2.3" || p.Vendor != "Acme Corp" || p.Arch != "x64" ||
		p.Labels["product_code"] != "{6D0E5B8A-6C2E-4F7B-9A51-3C1D2E4F5A61}" || p.InstallTime.IsZero() {
		t.Errorf("the MSI product: %+v\nall: %+v", p, inv.Software)
	}
	if p := found["Legacy Tool"]; p.Version != "4.0" || p.Arch != "x86" {
		t.Errorf("the 32-bit view's program: %+v", p)
	}
	// Wine names its user's profile after the Unix user who made the prefix.
	if p := found["Acme Sync"]; p.Version != "3.1.0" || p.Labels["scope"] != "user" || me != "" && p.User != me {
		t.Errorf("the user's program: %+v (want user %q)", p, me)
	}
	i := slices.IndexFunc(inv.Services, func(s model.Service) bool { return s.Name == "PlugPlay" })
	if i < 0 || inv.Services[i].Manager != ServiceManager || inv.Services[i].UnitFileState != "auto" || inv.Services[i].User != "LocalSystem" ||
		inv.Services[i].Path != `C:\windows\system32\plugplay.exe` {
		t.Errorf("Wine's PlugPlay service: %+v", inv.Services)
	}
	if len(inv.Sources) != 2 || inv.Sources[0].State != "ok" || inv.Sources[1].State != "ok" {
		t.Errorf("sources: %+v", inv.Sources)
	}
}

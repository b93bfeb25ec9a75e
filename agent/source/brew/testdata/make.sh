#!/bin/sh
# Makes the fixture roots testdata/root (a Linux host: /home/linuxbrew/.linuxbrew and
# alice's ~/.linuxbrew) and testdata/macos (an Apple silicon Mac with an Intel brew in
# /usr/local too, formulae and casks, and no /etc/passwd naming its users). Homebrew is not
# packaged by Debian, so the files are hand-written here in Homebrew's own formats: the
# receipts as Tab#to_json writes them (Library/Homebrew/tab.rb, Homebrew 4.3), the opt links
# as brew links them (../Cellar/<name>/<version>), the casks' saved definitions at
# .metadata/<version>/<timestamp>/Casks/<token>.json as Cask::Installer#save_caskfile writes
# them (Cask#to_installed_json_hash) or .rb (a cask from a tap, its Ruby source), and the
# casks' receipts at .metadata/INSTALL_RECEIPT.json (CaskTab).
# Needs: python3.
set -eu
cd "$(dirname "$0")"
rm -rf root macos
mkdir -p root/etc
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'alice:x:1000:1000::/home/alice:/bin/sh' \
	'linuxbrew:x:1001:1001::/home/linuxbrew:/bin/sh' >root/etc/passwd

python3 - <<'PY'
import json, os

def receipt(root, prefix, name, version, tap="homebrew/core", on_request=True, arch="arm64",
            time=1725350000, stable=None, deps=(), poured=True):
    keg = f"{root}{prefix}/Cellar/{name}/{version}"
    os.makedirs(keg, exist_ok=True)
    short = name.split("@")[0]
    tab = {
        "homebrew_version": "4.3.20",
        "used_options": [],
        "unused_options": [],
        "built_as_bottle": poured,
        "poured_from_bottle": poured,
        "loaded_from_api": tap == "homebrew/core",
        "installed_as_dependency": not on_request,
        "installed_on_request": on_request,
        "changed_files": [],
        "time": time,
        "source_modified_time": time - 86400,
        "compiler": "clang",
        "aliases": [],
        "runtime_dependencies": [
            {"full_name": d, "version": v, "revision": 0, "bottle_rebuild": 0, "pkg_version": v,
             "declared_directly": True} for d, v in deps],
        "source": {
            "spec": "stable",
            "versions": {"stable": stable or version.split("_")[0], "head": None, "version_scheme": 0},
            "path": f"{prefix}/Library/Taps/{tap.split('/')[0]}/homebrew-{tap.split('/')[1]}/Formula/{short[0]}/{name}.rb",
            "tap_git_head": "3c8a1c2f0d4e5b6a7980112233445566778899aa",
            "tap": tap,
        },
        "arch": arch,
        "built_on": {"os": "Macintosh" if arch == "arm64" or prefix == "/usr/local" else "Linux",
                     "os_version": "macOS 14", "cpu_family": "dunno", "xcode": "15.4",
                     "clt": "15.3.0.0.1.1708646388", "preferred_perl": "5.34"},
    }
    with open(f"{keg}/INSTALL_RECEIPT.json", "w") as f:
        f.write(json.dumps(tab, indent=2) + "\n")
    os.makedirs(f"{keg}/bin", exist_ok=True)
    open(f"{keg}/bin/{name.split('@')[0]}", "w").close()  # a stub: only the receipt is read

def opt(root, prefix, name, version):
    os.makedirs(f"{root}{prefix}/opt", exist_ok=True)
    os.symlink(f"../Cellar/{name}/{version}", f"{root}{prefix}/opt/{name}")

def cask(root, prefix, token, version, stamp, doc=None, rb=None, on_request=True, time=None):
    room = f"{root}{prefix}/Caskroom/{token}"
    os.makedirs(f"{room}/{version}", exist_ok=True)
    open(f"{room}/{version}/.keep", "w").close()  # the staged files' place, kept in git
    saved = f"{room}/.metadata/{version}/{stamp}/Casks"
    os.makedirs(saved, exist_ok=True)
    if doc is not None:
        with open(f"{saved}/{token}.json", "w") as f:
            f.write(json.dumps(doc, indent=2) + "\n")
    if rb is not None:
        with open(f"{saved}/{token}.rb", "w") as f:
            f.write(rb)
    if time is not None:
        tab = {"homebrew_version": "4.3.20", "loaded_from_api": doc is not None,
               "uninstall_flight_blocks": False, "installed_as_dependency": not on_request,
               "installed_on_request": on_request, "time": time, "runtime_dependencies": {},
               "source": {"path": f"{prefix}/Library/Taps/homebrew/homebrew-cask/Casks/{token[0]}/{token}.rb",
                          "tap": "homebrew/cask", "tap_git_head": None},
               "arch": "arm64", "uninstall_artifacts": [{"app": [f"{token}.app"]}],
               "built_on": {"os": "Macintosh", "os_version": "macOS 14"}}
        with open(f"{room}/.metadata/INSTALL_RECEIPT.json", "w") as f:
            f.write(json.dumps(tab, indent=2) + "\n")
    with open(f"{room}/.metadata/config.json", "w") as f:
        f.write('{"default":{"appdir":"/Applications"},"env":{},"explicit":{}}\n')

# Linux: the shared Linuxbrew prefix and alice's own.
L = "root"
receipt(L, "/home/linuxbrew/.linuxbrew", "jq", "1.7.1", arch="x86_64", deps=[("oniguruma", "6.9.9")])
opt(L, "/home/linuxbrew/.linuxbrew", "jq", "1.7.1")
receipt(L, "/home/linuxbrew/.linuxbrew", "oniguruma", "6.9.9", on_request=False, arch="x86_64")
opt(L, "/home/linuxbrew/.linuxbrew", "oniguruma", "6.9.9")
receipt(L, "/home/alice/.linuxbrew", "jq", "1.7.1", arch="x86_64", time=1725400000)
opt(L, "/home/alice/.linuxbrew", "jq", "1.7.1")
receipt(L, "/home/alice/.linuxbrew", "gh", "2.55.0", arch="x86_64")
opt(L, "/home/alice/.linuxbrew", "gh", "2.55.0")

# macOS: /opt/homebrew (arm64) and an Intel brew in /usr/local.
M = "macos"
receipt(M, "/opt/homebrew", "wget", "1.24.5", deps=[("openssl@3", "3.3.2")])
opt(M, "/opt/homebrew", "wget", "1.24.5")
# openssl@3 upgraded: the old keg is still in the Cellar, the opt link names the new one.
receipt(M, "/opt/homebrew", "openssl@3", "3.3.1", on_request=False, time=1717000000)
receipt(M, "/opt/homebrew", "openssl@3", "3.3.2", on_request=False)
opt(M, "/opt/homebrew", "openssl@3", "3.3.2")
# python@3.12 with a revision bump and no opt link: both kegs.
receipt(M, "/opt/homebrew", "python@3.12", "3.12.4", on_request=False, time=1718000000)
receipt(M, "/opt/homebrew", "python@3.12", "3.12.4_1", on_request=False, stable="3.12.4")
# A formula of a third-party tap, built from source.
receipt(M, "/opt/homebrew", "terraform", "1.9.5", tap="hashicorp/tap", poured=False)
opt(M, "/opt/homebrew", "terraform", "1.9.5")
receipt(M, "/usr/local", "wget", "1.24.5", arch="x86_64")
opt(M, "/usr/local", "wget", "1.24.5")

cask(M, "/opt/homebrew", "firefox", "130.0", "20240903101112.345", time=1725358272, doc={
    "token": "firefox", "full_token": "firefox", "old_tokens": [], "tap": "homebrew/cask",
    "name": ["Mozilla Firefox"], "desc": "Web browser", "homepage": "https://www.mozilla.org/firefox/",
    "url": "https://download-installer.cdn.mozilla.net/pub/firefox/releases/130.0/mac/en-US/Firefox%20130.0.dmg",
    "version": "130.0", "installed": None, "sha256": "0c5e2c9d1b3a4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7",
    "artifacts": [{"app": ["Firefox.app"]}, {"zap": [{"trash": ["~/Library/Caches/Firefox"]}]}],
    "caveats": None, "depends_on": {}, "conflicts_with": None, "container": None,
    "auto_updates": True, "deprecated": False, "disabled": False, "languages": [],
    "ruby_source_path": "Casks/f/firefox.rb"})
# A cask from a tap, saved as its Ruby source; upgraded once, both saves kept.
rb = '''cask "iterm2" do
  version "{v}"
  sha256 "a9f7c4d1e2b3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"

  url "https://iterm2.com/downloads/stable/iTerm2-#{{version.dots_to_underscores}}.zip"
  name "iTerm2"
  desc "Terminal emulator as alternative to Apple's Terminal app"
  homepage "https://iterm2.com/"

  auto_updates true

  app "iTerm.app"
end
'''
cask(M, "/opt/homebrew", "iterm2", "3.5.3", "20240701080000.000", rb=rb.format(v="3.5.3"))
cask(M, "/opt/homebrew", "iterm2", "3.5.4", "20240815093000.120", rb=rb.format(v="3.5.4"))
PY

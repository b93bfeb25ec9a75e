#!/bin/sh
# Makes the fixture root under testdata/root with flatpak itself, offline: a runtime and
# three apps are built by hand (build-init, build-finish, build-export into a local
# repository; appstreamcli compose for the app whose metadata flatpak copies into its deploy
# data), then installed with flatpak into the system installation (FLATPAK_SYSTEM_DIR =
# root/var/lib/flatpak), alice's (FLATPAK_USER_DIR = root/home/alice/.local/share/flatpak)
# and an extra installation configured in installations.d (FLATPAK_CONFIG_DIR), whose Path
# is then rewritten to /opt/flatpak-extra. The installations keep only what is read: each
# ref's active and current links, and in the deployed commit its deploy data, metadata and
# metainfo; the ostree objects and the files are removed, and the remotes' URLs name
# /srv/acme-repo rather than this machine's build directory.
# - org.acme.Platform//1.0, a runtime with a metainfo file (system, and alice's);
# - org.acme.Hello//stable, composed appstream data: appdata-version in its deploy data (system);
# - org.acme.Hello//beta, the same for a beta release (alice's);
# - org.acme.Editor//stable, only an old-style share/appdata file (system);
# - org.acme.Tool//stable, no metainfo at all (the extra installation).
# Needs: apt-get install -y flatpak ostree appstream-compose.
set -eu
cd "$(dirname "$0")"
rm -rf root build
mkdir -p root/etc build/etc/installations.d root/opt/flatpak-extra
B=$PWD/build
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'alice:x:1000:1000::/home/alice:/bin/sh' >root/etc/passwd
export FLATPAK_SYSTEM_DIR="$PWD/root/var/lib/flatpak" FLATPAK_USER_DIR="$PWD/root/home/alice/.local/share/flatpak"
export FLATPAK_CONFIG_DIR="$B/etc" XDG_DATA_HOME="$B/xdg" XDG_CACHE_HOME="$B/cache"
printf '[Installation "extra"]\nPath=%s\nDisplayName=Extra apps\nStorageType=harddisk\n' "$PWD/root/opt/flatpak-extra" \
	>"$B/etc/installations.d/extra.conf"

metainfo() { # file type id name summary version [description]
	cat >"$1" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<component type="$2">
  <id>$3</id>
  <name>$4</name>
  <name xml:lang="de">$4 (de)</name>
  <summary>$5</summary>
  <metadata_license>CC0-1.0</metadata_license>
  <project_license>MIT</project_license>
  <description><p>$4, a test component.</p></description>
  <releases>
    <release version="$6" date="2024-03-01"/>
    <release version="0.9" date="2023-01-01"/>
  </releases>
</component>
XML
}

# The runtime.
mkdir -p "$B/rt/files/lib" "$B/rt/files/share/metainfo"
printf '[Runtime]\nname=org.acme.Platform\nruntime=org.acme.Platform/x86_64/1.0\nsdk=org.acme.Platform/x86_64/1.0\n' >"$B/rt/metadata"
echo runtime >"$B/rt/files/lib/README"
metainfo "$B/rt/files/share/metainfo/org.acme.Platform.metainfo.xml" runtime org.acme.Platform "Acme Platform" "Shared libraries for Acme apps" 1.0.3
flatpak build-export --runtime --files=files "$B/repo" "$B/rt" 1.0 >/dev/null

app() { # id branch version metainfo-kind(compose|appdata|none)
	d=$B/app-$1-$2
	flatpak build-init "$d" "$1" org.acme.Platform org.acme.Platform 1.0 >/dev/null
	mkdir -p "$d/files/bin"
	printf '#!/bin/sh\necho %s\n' "$1" >"$d/files/bin/run"
	chmod 755 "$d/files/bin/run"
	case $4 in
	compose)
		mkdir -p "$d/files/share/metainfo"
		metainfo "$d/files/share/metainfo/$1.metainfo.xml" console-application "$1" "Acme Hello" "Says hello" "$3"
		appstreamcli compose --no-net --prefix=/ --origin="$1" --result-root="$d/files" \
			--data-dir="$d/files/share/app-info/xmls" "$d/files" >/dev/null
		;;
	appdata)
		mkdir -p "$d/files/share/appdata"
		metainfo "$d/files/share/appdata/$1.appdata.xml" desktop "$1" "Acme Editor" "Edits text" "$3"
		;;
	esac
	flatpak build-finish "$d" --command=run --share=network --filesystem=home >/dev/null
	flatpak build-export "$B/repo" "$d" "$2" >/dev/null
}
# Flatpak needs the runtime installed to build against it.
flatpak --user remote-add --no-gpg-verify acme-user "$B/repo"
flatpak --user install -y --noninteractive acme-user org.acme.Platform//1.0 >/dev/null
app org.acme.Hello stable 1.4.2 compose
app org.acme.Hello beta 1.5.0~beta1 compose
app org.acme.Editor stable 3.1 appdata
app org.acme.Tool stable 0 none

flatpak --system remote-add --no-gpg-verify acme "$B/repo"
flatpak --system install -y --noninteractive acme org.acme.Platform//1.0 org.acme.Hello//stable org.acme.Editor//stable >/dev/null
flatpak --user install -y --noninteractive acme-user org.acme.Hello//beta >/dev/null
flatpak --installation=extra remote-add --no-gpg-verify acme "$B/repo"
flatpak --installation=extra install -y --noninteractive acme org.acme.Platform//1.0 org.acme.Tool//stable >/dev/null

# Keep what the source reads.
mkdir -p root/etc/flatpak/installations.d
sed "s|^Path=.*|Path=/opt/flatpak-extra|" "$B/etc/installations.d/extra.conf" >root/etc/flatpak/installations.d/extra.conf
for inst in root/var/lib/flatpak root/home/alice/.local/share/flatpak root/opt/flatpak-extra; do
	chmod -R u+w "$inst"
	find "$inst/repo" -mindepth 1 -maxdepth 1 ! -name config -exec rm -rf {} +
	sed -i "s|file://$B/repo|file:///srv/acme-repo|" "$inst/repo/config"
	rm -rf "$inst/exports" "$inst/db" "$inst/.changed" "$inst/appstream"
	for commit in "$inst"/*/*/*/*/*/deploy; do
		c=$(dirname "$commit")
		rm -rf "$c/export" "$c/files/share/app-info"
		find "$c/files" -mindepth 1 \( -path "$c/files/share" -o -path "$c/files/share/metainfo*" -o -path "$c/files/share/appdata*" \) -prune -o -exec rm -rf {} + 2>/dev/null || true
		find "$c/files" -mindepth 1 -maxdepth 2 -type d -empty -delete
	done
done
rm -rf build

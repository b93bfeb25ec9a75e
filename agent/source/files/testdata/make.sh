#!/bin/sh
# Makes the fixture root under testdata/root. Needs apt-get (a Debian 12 package index), dpkg,
# gcc and binutils >= 2.39 (ld --package-metadata).
#
#   - hello and cowsay are downloaded with apt-get download; their executables are unpacked
#     with dpkg -x, and their .list files are what dpkg writes at install: every path of the
#     package's data (dpkg -c), "/." for the top directory, no trailing slashes.
#   - /opt/acme/bin/acmectl is a C program linked with --package-metadata (through -Xlinker: -Wl, would split the JSON at its commas), which puts the JSON
#     in an ELF note of type 0xcafe1a7e, owner "FDO", in the section .note.package (systemd's
#     package notes specification).
#   - /opt/apps/Viewer.AppImage is shaped like a type 2 AppImage: an ELF whose header holds
#     "AI\x02" at offset 8 (EI_PAD, where appimagetool puts it), without an exec bit.
set -eu
cd "$(dirname "$0")"
rm -rf root work
mkdir -p work root/var/lib/dpkg/info root/etc/systemd/system root/usr/local/bin \
	root/opt/acme/bin root/opt/apps root/srv/data root/opt/web/node_modules/.bin \
	root/usr/local/lib/python3.11/site-packages/demo/bin
(cd work && apt-get download -q hello cowsay >/dev/null 2>&1)
for deb in work/hello_*.deb work/cowsay_*.deb; do
	pkg=$(dpkg-deb -f "$deb" Package)
	dpkg -x "$deb" work/x
	dpkg-deb -c "$deb" | awk '{print $NF}' | sed -e 's#^\./$#/.#' -e 's#^\.##' -e 's#/$##' \
		>"root/var/lib/dpkg/info/$pkg.list"
done
mkdir -p root/usr/bin root/usr/games
cp work/x/usr/bin/hello root/usr/bin/hello
cp work/x/usr/games/cowsay root/usr/games/cowsay
ln -s usr/bin root/bin

cat >work/main.c <<'C'
int main(void) { return 0; }
C
gcc -Os -s -o root/opt/acme/bin/acmectl work/main.c \
	-Xlinker --package-metadata='{"type":"deb","name":"acme","version":"2.4.1","architecture":"amd64","osCpe":"cpe:/o:debian:debian_linux:12"}'
gcc -Os -s -o work/plain work/main.c
cp work/plain root/opt/apps/Viewer.AppImage
printf 'AI\002' | dd of=root/opt/apps/Viewer.AppImage bs=1 seek=8 conv=notrunc status=none
chmod 0644 root/opt/apps/Viewer.AppImage
printf 'not an AppImage\n' >root/opt/apps/Fake.AppImage

printf '#!/bin/sh\necho tool\n' >root/usr/local/bin/tool
printf 'data\n' >root/srv/data/readme.txt
printf '#!/bin/sh\n' >root/srv/data/run.sh
printf '#!/bin/sh\n' >root/opt/web/node_modules/.bin/webpack
printf '#!/bin/sh\n' >root/usr/local/lib/python3.11/site-packages/demo/bin/demo
chmod 0755 root/usr/local/bin/tool root/srv/data/run.sh root/opt/web/node_modules/.bin/webpack \
	root/usr/local/lib/python3.11/site-packages/demo/bin/demo

cat >root/etc/systemd/system/hello.service <<'UNIT'
[Unit]
Description=Greets

[Service]
# Owned by the hello package, through the /bin link.
ExecStart=/bin/hello --greeting=hi
UNIT
cat >root/etc/systemd/system/acme.service <<'UNIT'
[Service]
ExecStartPre=-/opt/acme/bin/acmectl check
ExecStart=@/usr/local/bin/tool tool --serve \
	--port 8080
ExecStart=/usr/games/cowsay
ExecStart=%h/bin/not-expanded
UNIT
printf 'root:x:0:0:root:/root:/bin/bash\nacme:x:1001:1001::/home/acme:/bin/sh\n' >root/etc/passwd
rm -rf work

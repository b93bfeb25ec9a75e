#!/bin/sh
# Rebuilds testdata/root, the container source's fixture host root. Run from the package
# directory as root on a host with Debian's podman (apt-get install podman): it needs no
# network. The Podman stores are made by the real podman (vfs storage driver, images imported
# from a tarball, containers created but not started) and only the files the source reads
# are kept: <driver>-images/images.json with each image's configuration, <driver>-containers/
# containers.json and libpod/bolt_state.db. The rootless store is made by the same podman
# pointed at the account's home. The Docker and containerd parts are written by gen/main.go.
set -eu
out=testdata/root
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
mkdir -p "$out/etc" "$tmp/rootfs/bin"
printf 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nsvc:x:998:998::/nonexistent:/usr/sbin/nologin\n' >"$out/etc/passwd"
cp /bin/true "$tmp/rootfs/bin/true"
tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .

# podman_store DIR: runs podman on a store at DIR (a temporary one) and keeps its files in
# the fixture at $out/$2.
podman_store() {
	p="podman --root $tmp/$1/storage --runroot $tmp/$1/run --storage-driver vfs --tmpdir $tmp/$1/tmp"
	shift
	dest=$1
	shift
	"$@"
	s=$tmp/$store/storage
	mkdir -p "$dest/vfs-images" "$dest/vfs-containers" "$dest/libpod"
	cp "$s/vfs-images/images.json" "$dest/vfs-images/"
	for d in "$s"/vfs-images/*/; do
		i=$(basename "$d")
		mkdir -p "$dest/vfs-images/$i"
		cp "$d"/=* "$dest/vfs-images/$i/" 2>/dev/null || true
		rm -f "$dest/vfs-images/$i"/=c2lnbmF0dXJl*
	done
	cp "$s/vfs-containers/containers.json" "$dest/vfs-containers/"
	cp "$s/libpod/bolt_state.db" "$dest/libpod/"
}

system() {
	$p import -q --change 'LABEL org.opencontainers.image.vendor=Acme' \
		--change 'LABEL org.opencontainers.image.source=https://git.example.com/acme/web' \
		--change 'LABEL org.opencontainers.image.description=Acme web front end' \
		--change 'LABEL org.opencontainers.image.authors=web-team@example.com' \
		-c 'CMD ["/bin/true"]' "$tmp/rootfs.tar" docker.io/acme/web:1.2 >/dev/null
	$p tag docker.io/acme/web:1.2 localhost/tools:dev
	$p import -q "$tmp/rootfs.tar" quay.io/acme/builder:2.0 >/dev/null
	$p create -q --name web --label com.docker.compose.project=shop --label 'bad key=1' \
		--user 1000:1000 docker.io/acme/web:1.2 >/dev/null
	$p create -q --name once localhost/tools:dev >/dev/null
}

rootless() {
	$p import -q --change 'LABEL org.opencontainers.image.title=Alpine' -c 'CMD ["/bin/true"]' \
		"$tmp/rootfs.tar" docker.io/library/alpine:3.20 >/dev/null
	$p create -q --name dev --label io.kubernetes.pod.namespace=alice-lab alpine:3.20 >/dev/null
}

store=sys podman_store sys "$out/var/lib/containers/storage" system
store=alice podman_store alice "$out/home/alice/.local/share/containers/storage" rootless
go run ./testdata/gen "$out"

#!/usr/bin/env bash
# A Debian bookworm minbase base image for the RUN tests and benchmark (SPEC.md section 8): made once
# with debootstrap from Debian's mirror (debootstrap's default, or KEEL_DEBIAN_MIRROR), kept under DIR, loaded into the test dockerd and pushed to the
# open test registry, so that keel pulls it the way `FROM` does and docker builds from the same image.
#   bash scripts/debian-base.sh DIR REGISTRY    # REGISTRY: host:port of the open registry
# Needs root, debootstrap, skopeo and DOCKER_HOST set to the test dockerd. Prints:
#   KEEL_DEBIAN_IMAGE=REGISTRY/keel-test/debian:bookworm   (the name to use in FROM)
#   KEEL_DEBIAN_ARCHIVE=DIR/debian.tar                     (the same image as a docker-save archive)
set -euo pipefail
DIR="$1"
REGISTRY="$2"
NAME="$REGISTRY/keel-test/debian:bookworm"
# the mirror is debootstrap's own default unless KEEL_DEBIAN_MIRROR names one
MIRROR=(); [ -z "${KEEL_DEBIAN_MIRROR:-}" ] || MIRROR=("$KEEL_DEBIAN_MIRROR")
mkdir -p "$DIR"

if [ ! -f "$DIR/rootfs.tar" ]; then
  rm -rf "$DIR/rootfs"
  debootstrap --variant=minbase bookworm "$DIR/rootfs" "${MIRROR[@]}" >"$DIR/debootstrap.log" 2>&1 || {
    echo "debootstrap failed; the end of its log:" >&2
    tail -20 "$DIR/debootstrap.log" >&2
    exit 1
  }
  # as Debian's own images ship: no downloaded packages, no package lists
  rm -rf "$DIR/rootfs/var/cache/apt/archives/"*.deb "$DIR/rootfs/var/lib/apt/lists/"*
  tar --numeric-owner --sort=name --xattrs -C "$DIR/rootfs" -cf "$DIR/rootfs.tar.tmp" .
  mv "$DIR/rootfs.tar.tmp" "$DIR/rootfs.tar"
  rm -rf "$DIR/rootfs"
fi

if ! docker image inspect "$NAME" >/dev/null 2>&1; then
  docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["bash"]' \
    "$DIR/rootfs.tar" "$NAME" >/dev/null
  rm -f "$DIR/debian.tar"
fi
if [ ! -f "$DIR/debian.tar" ]; then
  docker save -o "$DIR/debian.tar.tmp" "$NAME"
  mv "$DIR/debian.tar.tmp" "$DIR/debian.tar"
fi
skopeo copy -q --dest-tls-verify=false "docker-archive:$DIR/debian.tar" "docker://$NAME" >/dev/null
echo "KEEL_DEBIAN_IMAGE=$NAME"
echo "KEEL_DEBIAN_ARCHIVE=$DIR/debian.tar"

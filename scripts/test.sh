#!/usr/bin/env bash
# The test command: sets up everything on a fresh Debian machine, then runs every test.
#   bash scripts/test.sh [jest args...]
# As root it installs the Debian packages the integration tests use (docker.io, runc, crun, skopeo, umoci,
# busybox-static; bzip2, xz-utils and zstd make ADD test archives; debootstrap makes the Debian base; attr has setfattr for overlayfs layer folders; uidmap has newuidmap for the rootless test; slirp4netns is RUN's default network; qemu-user-static runs arm64 RUNs, registered in binfmt_misc by scripts/test-env.sh) and starts dockerd for the run (scripts/test-env.sh); it stops it afterwards.
# Without root or without those packages, integration tests skip with a notice, unless
# KEEL_REQUIRE_INTEGRATION=1 (as in CI), which turns a skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(docker.io runc crun skopeo umoci busybox-static bzip2 xz-utils zstd docker-registry curl apache2-utils openssl debootstrap attr uidmap qemu-user-static slirp4netns)
if [ "$(id -u)" = 0 ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("keel needs Node >= 20.19, found "+process.version); process.exit(1) }'
npm ci --no-audit --no-fund --loglevel=error   # the lock file as committed: it must stay complete

started=""
if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null 2>&1 && [ -z "${KEEL_DOCKER_HOST:-}" ]; then
  # exports KEEL_DOCKER_HOST, KEEL_REGISTRY and the KEEL_AUTH_REGISTRY settings
  while read -r line; do export "${line?}"; done < <(bash scripts/test-env.sh start)
  started=1
fi
stop() { [ -z "$started" ] || bash scripts/test-env.sh stop; }
trap stop EXIT

npm test -- "$@"

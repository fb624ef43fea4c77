#!/usr/bin/env bash
# Start or stop the real components the integration tests use (SPEC.md section 8):
#   bash scripts/test-env.sh start   # dockerd (overlay2, no iptables, no bridge) and an open registry
#                                    # (Debian's docker-registry on 127.0.0.1:5000), under $KEEL_TEST_ROOT
#   bash scripts/test-env.sh stop    # stops what start started, by the pids it recorded
# start prints the environment to export: KEEL_DOCKER_HOST=..., KEEL_REGISTRY=..., the other registries'
# settings, KEEL_DEBIAN_IMAGE / KEEL_DEBIAN_ARCHIVE (scripts/debian-base.sh) where debootstrap is installed, and
# KEEL_BUSYBOX_ARM64 (Debian's busybox-static for arm64) where QEMU's aarch64 emulator is registered in binfmt_misc
set -euo pipefail
ROOT="${KEEL_TEST_ROOT:-/tmp/keel-test-env}"
D="$ROOT/docker"
R="$ROOT/registry"
REGISTRY_ADDR="${KEEL_REGISTRY_ADDR:-127.0.0.1:5000}"
# a second registry behind htpasswd Basic auth, with a test-only account
AUTH_ADDR="${KEEL_AUTH_REGISTRY_ADDR:-127.0.0.1:5001}"
AUTH_USER=keel-test
AUTH_PASSWORD=keel-test-password
# a third registry with `auth: token`: it trusts a certificate made here; the tests run the token
# issuer (on TOKEN_REALM) that signs with the matching key
TOKEN_ADDR="${KEEL_TOKEN_REGISTRY_ADDR:-127.0.0.1:5002}"
TOKEN_REALM="http://${KEEL_TOKEN_REALM_ADDR:-127.0.0.1:5003}/token"

start() {
  start_docker
  start_registry "$R" "$REGISTRY_ADDR" KEEL_REGISTRY ""
  echo "KEEL_REGISTRY_DATA=$R/data"
  mkdir -p "$R-auth"
  htpasswd -Bbn "$AUTH_USER" "$AUTH_PASSWORD" >"$R-auth/htpasswd"
  start_registry "$R-auth" "$AUTH_ADDR" KEEL_AUTH_REGISTRY "$(printf 'auth:\n  htpasswd:\n    realm: keel-test\n    path: %s' "$R-auth/htpasswd")"
  echo "KEEL_AUTH_REGISTRY_USER=$AUTH_USER"
  echo "KEEL_AUTH_REGISTRY_PASSWORD=$AUTH_PASSWORD"
  mkdir -p "$R-token"
  if [ ! -f "$R-token/cert.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$R-token/key.pem" -out "$R-token/cert.pem" \
      -subj /CN=keel-test-token-issuer -days 3 >/dev/null 2>&1
  fi
  start_registry "$R-token" "$TOKEN_ADDR" KEEL_TOKEN_REGISTRY "$(printf 'auth:\n  token:\n    realm: %s\n    service: keel-test-registry\n    issuer: keel-test-issuer\n    rootcertbundle: %s' "$TOKEN_REALM" "$R-token/cert.pem")"
  echo "KEEL_TOKEN_REALM=$TOKEN_REALM"
  echo "KEEL_TOKEN_KEY=$R-token/key.pem"
  echo "KEEL_TOKEN_CERT=$R-token/cert.pem"
  setup_emulation
  # rootless RUN's network (slirp4netns) opens /dev/net/tun as the user: Debian's udev makes it 0666,
  # a machine without udev may have left it 0600
  [ -c /dev/net/tun ] && chmod 0666 /dev/net/tun
  # the Debian base for RUN tests: made once (debootstrap), loaded into dockerd, pushed to the open registry
  if command -v debootstrap >/dev/null 2>&1 && command -v skopeo >/dev/null 2>&1; then
    DOCKER_HOST="unix://$D/docker.sock" bash "$(dirname "$0")/debian-base.sh" "$ROOT/debian" "$REGISTRY_ADDR"
  fi
}

# QEMU user emulation for other architectures' RUNs, without systemd: binfmt_misc mounted, and
# Debian's qemu-user-static handlers for aarch64 and arm registered (their binfmt.d files carry the F
# flag, so containers use the emulator without seeing it); then busybox-static for arm64, fetched
# with apt-get download (no install: a foreign architecture's package is only unpacked)
setup_emulation() {
  [ -d /usr/lib/binfmt.d ] && command -v qemu-aarch64-static >/dev/null 2>&1 || return 0
  local fs=/proc/sys/fs/binfmt_misc
  [ -f "$fs/register" ] || mount -t binfmt_misc binfmt_misc "$fs"
  for arch in aarch64 arm; do
    [ -f "$fs/qemu-$arch" ] || grep -v '^#' "/usr/lib/binfmt.d/qemu-$arch.conf" >"$fs/register"
  done
  local dir="$ROOT/arm64"
  if [ ! -x "$dir/root/bin/busybox" ]; then
    mkdir -p "$dir"
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    (cd "$dir" && { apt-get download -q busybox-static:arm64 >/dev/null 2>&1 || { apt-get update -qq && apt-get download -q busybox-static:arm64 >/dev/null 2>&1; }; })
    dpkg-deb -x "$dir"/busybox-static_*_arm64.deb "$dir/root"
  fi
  echo "KEEL_BUSYBOX_ARM64=$dir/root/bin/busybox"
}

# start_registry DIR ADDR VARIABLE EXTRA_CONFIG: a docker-registry on ADDR, its data in DIR
start_registry() {
  local dir="$1" addr="$2" var="$3" extra="$4"
  if curl -sS -o /dev/null "http://$addr/v2/" 2>/dev/null; then
    echo "$var=$addr"
    return
  fi
  # a registry started afresh starts empty: what an earlier run left (a test damages blobs on purpose)
  # must not reach this one; the bases are pushed again below
  rm -rf "$dir/data"
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $addr
$extra
YAML
  docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  echo $! >"$dir/registry.pid"
  for _ in $(seq 1 40); do
    if curl -sS -o /dev/null "http://$addr/v2/" 2>/dev/null; then
      echo "$var=$addr"
      return
    fi
    sleep 0.25
  done
  echo "the registry on $addr did not start; its log:" >&2
  tail -20 "$dir/registry.log" >&2
  exit 1
}

stop_registry() {
  for dir in "$R" "$R-auth" "$R-token"; do
    if [ -f "$dir/registry.pid" ]; then
      kill "$(cat "$dir/registry.pid")" 2>/dev/null || true
      rm -f "$dir/registry.pid"
    fi
  done
}

start_docker() {
  mkdir -p "$D"
  if [ -S "$D/docker.sock" ] && DOCKER_HOST="unix://$D/docker.sock" /usr/bin/docker info >/dev/null 2>&1; then
    echo "KEEL_DOCKER_HOST=unix://$D/docker.sock"
    return
  fi
  local driver=overlay2
  for attempt in overlay2 vfs; do
    driver=$attempt
    dockerd --storage-driver="$driver" --iptables=false --bridge=none --data-root="$D/data" \
      --exec-root="$D/exec" --pidfile="$D/dockerd.pid" -H "unix://$D/docker.sock" >"$D/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
      if DOCKER_HOST="unix://$D/docker.sock" /usr/bin/docker info >/dev/null 2>&1; then
        echo "KEEL_DOCKER_HOST=unix://$D/docker.sock"
        [ "$driver" = overlay2 ] || echo "warning: dockerd runs on $driver (overlay2 failed); do not benchmark on it" >&2
        return
      fi
      kill -0 "$(cat "$D/dockerd.pid" 2>/dev/null || echo 0)" 2>/dev/null || break
      sleep 0.5
    done
    stop_docker
  done
  echo "dockerd did not start; its log:" >&2
  tail -20 "$D/dockerd.log" >&2
  exit 1
}

stop_docker() {
  if [ -f "$D/dockerd.pid" ]; then
    local pid
    pid="$(cat "$D/dockerd.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    rm -f "$D/dockerd.pid"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop_docker; stop_registry ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

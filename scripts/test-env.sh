#!/usr/bin/env bash
# Start or stop the real components the integration tests use (SPEC.md section 8):
#   bash scripts/test-env.sh start   # dockerd (overlay2, no iptables, no bridge) and an open registry
#                                    # (Debian's docker-registry on 127.0.0.1:5000), under $KEEL_TEST_ROOT
#   bash scripts/test-env.sh stop    # stops what start started, by the pids it recorded
# start prints the environment to export: KEEL_DOCKER_HOST=... and KEEL_REGISTRY=...
set -euo pipefail
ROOT="${KEEL_TEST_ROOT:-/tmp/keel-test-env}"
D="$ROOT/docker"
R="$ROOT/registry"
REGISTRY_ADDR="${KEEL_REGISTRY_ADDR:-127.0.0.1:5000}"

start() {
  start_docker
  start_registry
}

start_registry() {
  mkdir -p "$R/data"
  if curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
    echo "KEEL_REGISTRY=$REGISTRY_ADDR"
    return
  fi
  cat >"$R/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $R/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
YAML
  docker-registry serve "$R/config.yml" >"$R/registry.log" 2>&1 &
  echo $! >"$R/registry.pid"
  for _ in $(seq 1 40); do
    if curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
      echo "KEEL_REGISTRY=$REGISTRY_ADDR"
      return
    fi
    sleep 0.25
  done
  echo "the registry did not start; its log:" >&2
  tail -20 "$R/registry.log" >&2
  exit 1
}

stop_registry() {
  if [ -f "$R/registry.pid" ]; then
    kill "$(cat "$R/registry.pid")" 2>/dev/null || true
    rm -f "$R/registry.pid"
  fi
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

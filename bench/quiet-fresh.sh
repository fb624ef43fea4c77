#!/usr/bin/env bash
# The fresh-runner and cold RUN-bench figures of ../shared/bench with QUIET seconds (default 30) of quiet after every
# deletion on both sides: fresh-bench.sh deletes keel's cache folder just before each timed keel build, and on a disk
# that discards online the timed build then pays for the deletion (bench/RESULTS.md, 2026-12-08). Sides alternate.
# Needs the bench environment (../shared/bench/env-up.sh). Usage: from the project root after npm run build:
#   bash bench/quiet-fresh.sh [rounds]
set -uo pipefail
eval "$(bash ../shared/bench/env-up.sh)"
ROUNDS=${1:-2}; QUIET=${QUIET:-30}; D=/usr/bin/docker; K="node $PWD/dist/cli/main.js"; T=$(mktemp -d); mkdir -p $T/one $T/run
printf 'FROM 127.0.0.1:5000/debian:bookworm\nRUN true\n' > $T/one/Dockerfile
{ echo 'FROM 127.0.0.1:5000/debian:bookworm'; for i in $(seq 1 20); do echo "RUN mkdir -p /data/s$i && echo step$i > /data/s$i/a && cp /etc/os-release /data/s$i/c"; done
  echo 'RUN mkdir /many && for i in $(seq 1 5000); do echo $i > /many/f$i; done'; } > $T/run/Dockerfile
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
kfresh() { rm -rf $T/cache $T/out; sync; sleep $QUIET; local s=$(date +%s%N); $K build -q --network=none --cache-dir $T/cache -o type=oci-dir,dest=$T/out "$1" >/dev/null 2>&1 || { echo "keel failed"; exit 1; }; echo -n "keel $(ms $s) ms, "; }
dfresh() { $D rmi -f $($D images -aq) >/dev/null 2>&1; $D builder prune -af >/dev/null 2>&1; sync; sleep $QUIET; local s=$(date +%s%N); DOCKER_BUILDKIT=1 $D build -q --network=none -t quiet:docker "$1" >/dev/null 2>&1 || { echo "docker failed"; exit 1; }; echo "docker $(ms $s) ms"; }
for r in $(seq $ROUNDS); do echo -n "fresh, FROM + RUN true: "; kfresh $T/one; dfresh $T/one; echo -n "fresh, RUN bench: "; kfresh $T/run; dfresh $T/run; done
# cold: the base present on both sides, --no-cache
$K build -q --network=none --cache-dir $T/cold -o type=oci-dir,dest=$T/cout $T/run >/dev/null 2>&1; DOCKER_BUILDKIT=1 $D build -q --network=none -t quiet:docker $T/run >/dev/null 2>&1
for r in $(seq $((ROUNDS + 1))); do
  sync; sleep $QUIET; s=$(date +%s%N); $K build -q --no-cache --network=none --cache-dir $T/cold -o type=oci-dir,dest=$T/cout $T/run >/dev/null 2>&1; echo -n "cold RUN bench: keel $(ms $s) ms, "
  sync; sleep $QUIET; s=$(date +%s%N); DOCKER_BUILDKIT=1 $D build -q --no-cache --network=none -t quiet:docker $T/run >/dev/null 2>&1; echo "docker $(ms $s) ms"
done
rm -rf $T

#!/usr/bin/env bash
# Instructions per hot `src` request, by callgrind: the count that does not
# move with the machine's load (docs/performance.md, "The regression taken
# apart"). Starts IMGPIPE under valgrind with one I/O thread, uploads one
# test image, lets its variants finish, then counts N keep-alive GETs of its
# s.jpg only (instrumentation toggled around them).
#   ops/bench.d/profile_src.sh [IMGPIPE] [N] [LOG_LEVEL]   (defaults: build-release/imgpipe 800 info)
#   PROFILE_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ops/bench.d/profile_src.sh  (another allocator)
# Prints the instructions per request and leaves the profile in
# build-release/bench/callgrind.src.out (callgrind_annotate reads it; two
# builds' profiles diff function by function).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${1:-$root/build-release/imgpipe}" n="${2:-800}" level="${3:-info}"
command -v valgrind >/dev/null || { echo "profile_src: valgrind is missing (apt install valgrind)" >&2; exit 1; }
out="$root/build-release/bench/callgrind.src.out"
mkdir -p "$(dirname "$out")"
work="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
${PROFILE_PRELOAD:+env LD_PRELOAD=$PROFILE_PRELOAD} valgrind --tool=callgrind --callgrind-out-file="$out" --instr-atstart=no "$bin" serve --data-dir "$work/data" \
  --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" --io-threads 1 --log-level "$level" \
  >"$work/out" 2>"$work/err" &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.5; done
src=$(curl -sf -F "file=@$root/tests/corpus/medium.jpg" "http://127.0.0.1:$port/v1/upload" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["src"])')
# Its variants done: a job counted and no variant backlog (/metrics; the
# job_done log line is not written below --log-level info).
variants_done() {
  curl -sf "http://127.0.0.1:$port/metrics" |
    awk '/^imgpipe_jobs_total/ {n += $NF} /^imgpipe_worker_variant_backlog/ {b = $NF} END {exit !(n >= 1 && b == 0)}'
}
for _ in $(seq 600); do variants_done && break; sleep 0.5; done
get() {  # get COUNT: keep-alive GETs of the s.jpg variant
  python3 - "$port" "$1" "${src#http://127.0.0.1:$port}?size=s" <<'PY'
import http.client, sys
port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
PY
}
get 50  # warm: caches filled, first-request paths done
callgrind_control -i on "$pid" >/dev/null 2>&1
get "$n"
callgrind_control -i off "$pid" >/dev/null 2>&1
kill -INT "$pid"; wait "$pid" 2>/dev/null || true
trap 'rm -rf "$work"' EXIT
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "instructions per request: $((total / n)) ($n requests; profile: $out)"

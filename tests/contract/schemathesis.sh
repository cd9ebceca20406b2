#!/usr/bin/env bash
# /openapi.json against a live server: schemathesis (ops/venv, made by
# ops/pytools) with every check and every phase, stateful included, once
# anonymously and once with a key created through POST /v1/keys. Bounded
# (few examples per operation) so it stays a short step of ops/test.
#   tests/contract/schemathesis.sh BUILD_DIR
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build}"
st="$root/ops/venv/bin/schemathesis"
[[ -x "$st" ]] || { echo "schemathesis missing: run ops/pytools" >&2; exit 1; }

work="$(mktemp -d)"
port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
"$build/imgpipe" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --public-url "$base" \
  --token-secret "schemathesis-token-secret-0123456789abcdef" --log-level warn 2>"$work/server.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT

# Wait on the condition (ready), bounded.
for _ in $(seq 600); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  /usr/bin/python3 -c 'import time; time.sleep(0.1)'
done
curl -fsS "$base/readyz" >/dev/null

key="$(curl -fsS -H 'Content-Type: application/json' -d '{"email":"schemathesis@example.com"}' "$base/v1/keys" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')"

run() {
  "$st" --config-file "$root/tests/contract/schemathesis.toml" run "$base/openapi.json" --url "$base" --checks all --phases examples,coverage,fuzzing,stateful \
    --max-examples "${IMGPIPE_SCHEMATHESIS_EXAMPLES:-8}" --workers 1 --no-color --seed 1 "$@"
}
echo "== anonymous"
run
echo "== with a key"
run -H "Authorization: Bearer $key"
if grep -q '"level":"error"' "$work/server.log"; then
  echo "server logged errors:" >&2; grep '"level":"error"' "$work/server.log" >&2; exit 1
fi

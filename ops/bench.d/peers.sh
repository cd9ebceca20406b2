# Sourced by ops/bench --peers. Installs imgproxy (Go, CGO against the
# system libvips) and thumbor (PyPI, in a venv) into ops/bench.d/peers/
# (ignored by git), serves the same photo from each, and measures the first
# request and the throughput of a 640-px-short-edge WebP next to imgpipe's
# m.webp (a pre-generated one, and one rendered on demand).
# A peer that cannot be installed is reported with the reason and skipped.

peers_dir="$root/ops/bench.d/peers"
imgproxy_version="${IMGPROXY_VERSION:-v3.21.0}"  # the v3.21 line builds against libvips 8.14
thumbor_version="${THUMBOR_VERSION:-7.7.4}"

# IMGPROXY_BIN: an imgproxy binary you already have (used as is, not installed).
imgproxy_bin="${IMGPROXY_BIN:-$peers_dir/bin/imgproxy}"

install_imgproxy() {
  [[ -x "$imgproxy_bin" ]] && return 0
  command -v go >/dev/null || { echo "go is not installed"; return 1; }
  mkdir -p "$peers_dir/bin" "$peers_dir/gopath"
  local log="$peers_dir/imgproxy-install.log"
  if ! CGO_ENABLED=1 GOPATH="$peers_dir/gopath" GOBIN="$peers_dir/bin" GOFLAGS=-modcacherw \
      timeout 1200 go install "github.com/imgproxy/imgproxy/v3@$imgproxy_version" >"$log" 2>&1; then
    echo "go install imgproxy@$imgproxy_version failed: $(grep -m1 -E '^go: |error|undefined|cannot' "$log" | tr -s '\t' ' ') $(grep -m1 'server response' "$log" | tr -s '\t' ' ')"
    return 1
  fi
}

install_thumbor() {
  [[ -x "$peers_dir/venv/bin/thumbor" ]] && return 0
  local log="$peers_dir/thumbor-install.log"
  mkdir -p "$peers_dir"
  if ! { python3 -m venv "$peers_dir/venv" && "$peers_dir/venv/bin/pip" install -q "thumbor==$thumbor_version"; } >"$log" 2>&1; then
    echo "pip install thumbor==$thumbor_version failed: $(grep -m1 -iE 'error' "$log" || tail -1 "$log")"
    return 1
  fi
}

# first_ms URL: client time of one GET, in ms; fails on a non-200.
first_ms() {
  curl -s -o "$work/peer.out" -w '%{http_code} %{time_total}\n' "$1" |
    { read -r code t; [[ "$code" == 200 ]] || { echo "GET $1 answered $code" >&2; return 1; }; python3 -c "print(f'{$t*1000:.1f}')"; }
}

peer_row() {  # peer_row NAME URL_PATH BASE_URL
  local first; first=$(first_ms "$3$2") || { say "| $1 | failed: $(head -c 200 "$work/peer.out") | | |"; return; }
  local w h; w=$(vipsheader -f width "$work/peer.out"); h=$(vipsheader -f height "$work/peer.out")
  echo "$2" >"$work/peer-path"
  read -r rps p50 p99 err < <(wrk_run "$3" "$work/peer-path" 8)
  say "| $1 | $first | $rps | $p50 / $p99 | ${w}x$h |"
}

run_peers() {
  progress "5. peers: imgproxy and thumbor (installed on first use)"
  say "## 5. Peers: a 640-px-short-edge WebP of $(basename "${proc_files[1]}") (wrk -t1 -c8, $dur)"
  say ""
  local photo="${proc_files[1]}" name; name=$(basename "$photo")
  mkdir -p "$work/peer-root"; cp "$photo" "$work/peer-root/"
  say "| server | first request ms | req/s | p50 / p99 ms | output |"
  say "| --- | --- | --- | --- | --- |"

  # imgpipe: pre-generated, then on demand.
  start_imgpipe peers-ours || die "imgpipe serve did not start"
  local id src p
  read -r id _ < <(upload "$base_url" "$photo")
  src=$(src_of_last)
  p="${src#"$base_url"}"; p="${p%.*}.webp?size=m"
  for _ in $(seq 1 100); do grep -q '"event":"job_done"' "$work/peers-ours.log" && break; sleep 0.1; done
  peer_row "imgpipe (pre-generated m.webp)" "$p" "$base_url"
  stop_pid "$srv_pid"
  start_imgpipe peers-ours-od --no-pregenerate || die "imgpipe serve did not start"
  read -r id _ < <(upload "$base_url" "$photo")
  src=$(src_of_last)
  p="${src#"$base_url"}"; p="${p%.*}.webp?size=m"
  peer_row "imgpipe (m.webp rendered on demand, then cached)" "$p" "$base_url"
  stop_pid "$srv_pid"

  local why port
  if why=$(install_imgproxy); then
    port=$(free_port)
    IMGPROXY_BIND="127.0.0.1:$port" IMGPROXY_LOCAL_FILESYSTEM_ROOT="$work/peer-root" IMGPROXY_QUALITY=80 \
      IMGPROXY_LOG_LEVEL=error "$imgproxy_bin" >"$work/imgproxy.log" 2>&1 &
    local ip=$!; pids+=("$ip")
    for _ in $(seq 1 50); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
    peer_row "imgproxy $("$imgproxy_bin" version 2>/dev/null || echo "$imgproxy_version") (no result cache)" "/insecure/rs:fit:0:640/plain/local:///$name@webp" "http://127.0.0.1:$port"
    stop_pid "$ip"
  else
    say "| imgproxy | not installed: $why | | | |"
  fi

  if why=$(install_thumbor); then
    port=$(free_port)
    cat >"$work/thumbor.conf" <<EOF
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = '$work/peer-root'
ALLOW_UNSAFE_URL = True
QUALITY = 80
WEBP_QUALITY = 80
RESULT_STORAGE = None
EOF
    "$peers_dir/venv/bin/thumbor" -i 127.0.0.1 -p "$port" -c "$work/thumbor.conf" -l error >"$work/thumbor.log" 2>&1 &
    local tp=$!; pids+=("$tp")
    for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthcheck" && break; sleep 0.1; done
    peer_row "thumbor $thumbor_version (no result storage)" "/unsafe/0x640/filters:format(webp)/$name" "http://127.0.0.1:$port"
    stop_pid "$tp"
  else
    say "| thumbor | not installed: $why | | | |"
  fi
  say ""
}

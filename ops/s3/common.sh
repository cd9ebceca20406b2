# Shared by ops/s3/fetch, start, stop and status. Sourced, not run.
# A single-process SeaweedFS ('weed mini': master, volume, filer and S3 API)
# on loopback, for tests and local runs. Ports: S3 on P, the internal
# servers on P+1..P+9 (so a range of ten ports is enough).
# Layout of a data dir:
#   s3.json     the S3 identity (access key, secret) written by start
#   weed.pid    the server's pid while it runs
#   port        the S3 port it was started with
#   weed.log    its console; store/ its data
s3_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
s3_weed="$s3_here/dist/bin/weed"
s3_default_port=19330
s3_default_data="$s3_here/data"
s3_default_bucket="imgpipe"
# Test credentials for a loopback-only server; real installs bring their own.
s3_access_key="imgpipe-test"
s3_secret_key="imgpipe-test-secret"

s3_abs_dir() {
  mkdir -p "$1"
  (cd "$1" && pwd)
}

# Prints the pid of the server of data dir $1 when it runs; fails otherwise.
s3_running_pid() {
  local data="$1" pid
  [[ -f "$data/weed.pid" ]] || return 1
  pid="$(cat "$data/weed.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-dir=$data/store" || return 1
  echo "$pid"
}

# True when the S3 API answers at http://127.0.0.1:$1 (any HTTP status).
s3_answers() {
  local code
  code="$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$1/" 2>/dev/null)" || return 1
  [[ "$code" != "000" ]]
}

# True when bucket $2 exists at port $1 (signed HEAD with the test identity).
s3_bucket_exists() {
  local code
  code="$(curl -s -o /dev/null -m 5 -w '%{http_code}' -I --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$s3_access_key:$s3_secret_key" "http://127.0.0.1:$1/$2" 2>/dev/null)" || return 1
  [[ "$code" == "200" ]]
}

# Shared by ops/kafka/start, stop and status. Sourced, not run.
# Layout of a data dir:
#   server.properties  written by start (from its flags) on every start
#   kafka.pid          the broker's pid while it runs
#   port               the PLAINTEXT port it was started with
#   server.log         the broker's log4j log; stdout.log its console
#   kraft/             log.dirs: the KRaft metadata log and topic partitions
kafka_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kafka_default_port=19092
kafka_default_data="$kafka_here/data"

# Absolute path of a directory that may not exist yet.
kafka_abs_dir() {
  mkdir -p "$1"
  (cd "$1" && pwd)
}

# Prints the pid of the broker of data dir $1 when it runs; fails otherwise.
# A stale pidfile (no process, or a recycled pid that is not our broker) is ignored.
kafka_running_pid() {
  local data="$1" pid
  [[ -f "$data/kafka.pid" ]] || return 1
  pid="$(cat "$data/kafka.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "kafka.Kafka $data/server.properties" || return 1
  echo "$pid"
}

# True when a Kafka broker answers a metadata request at $1 (host:port).
kafka_answers() {
  timeout 5 kcat -L -b "$1" -m 3 -J >/dev/null 2>&1
}

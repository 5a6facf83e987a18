#!/usr/bin/env bash
# start.sh — a RabbitMQ broker on 127.0.0.1 for tests and `make up`, isolated from any system broker:
# own node name, port, data and log directories. Installs Debian's rabbitmq-server if missing (needs root).
#
# Usage: start.sh [DATA_DIR]        (default: $RABBITMQ_TEST_DIR or /tmp/landmark-rabbitmq)
# Env:   RABBITMQ_PORT (5673)  RABBITMQ_DIST_PORT (25673)  RABBITMQ_TEST_NODE (landmark-test)
# Prints (eval-able): RABBITMQ_HOST=127.0.0.1 RABBITMQ_PORT=... RABBITMQ_USER=guest RABBITMQ_PASSWORD=guest
# Idempotent: a broker already running for DATA_DIR is reused.
set -euo pipefail

DIR="${1:-${RABBITMQ_TEST_DIR:-/tmp/landmark-rabbitmq}}"
PORT="${RABBITMQ_PORT:-5673}"
DIST_PORT="${RABBITMQ_DIST_PORT:-25673}"
NODE_NAME="${RABBITMQ_TEST_NODE:-landmark-test}"
START_TIMEOUT="${START_TIMEOUT:-90}"
log() { echo "[rabbitmq/start.sh] $*" >&2; }

if ! command -v rabbitmq-server >/dev/null; then
  log "installing Debian package rabbitmq-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
  # The package may start a system broker on 5672; ours is independent of it.
fi

mkdir -p "$DIR"/{mnesia,log}
DIR="$(cd "$DIR" && pwd)"
export RABBITMQ_NODENAME="${NODE_NAME}@localhost"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$PORT"
export RABBITMQ_DIST_PORT="$DIST_PORT"
export RABBITMQ_MNESIA_BASE="$DIR/mnesia"
export RABBITMQ_LOG_BASE="$DIR/log"
export RABBITMQ_PID_FILE="$DIR/rabbitmq.pid"
export RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
export RABBITMQ_CONFIG_FILE="$DIR/rabbitmq"
export HOME="${HOME:-/root}"
[[ -f "$DIR/enabled_plugins" ]] || echo "[]." > "$DIR/enabled_plugins"
cat > "$DIR/rabbitmq.conf" <<CONF
listeners.tcp.local = 127.0.0.1:${PORT}
loopback_users = none
consumer_timeout = 1800000
CONF

print_env() {
  echo "RABBITMQ_HOST=127.0.0.1"
  echo "RABBITMQ_PORT=${PORT}"
  echo "RABBITMQ_USER=guest"
  echo "RABBITMQ_PASSWORD=guest"
  echo "RABBITMQ_NODE=${RABBITMQ_NODENAME}"
}

if rabbitmq-diagnostics -q -n "$RABBITMQ_NODENAME" check_port_connectivity >/dev/null 2>&1; then
  log "already running ($RABBITMQ_NODENAME)"
  print_env
  exit 0
fi

# Debian's wrapper runs the broker as the 'rabbitmq' user when started as root.
if [[ $(id -u) == 0 ]] && id rabbitmq >/dev/null 2>&1; then
  chown -R rabbitmq:rabbitmq "$DIR"
fi
log "starting $RABBITMQ_NODENAME on 127.0.0.1:$PORT (data in $DIR)"
setsid rabbitmq-server </dev/null >"$DIR/server.out" 2>&1 &
server_pid=$!
deadline=$((SECONDS + START_TIMEOUT))
until rabbitmq-diagnostics -q -n "$RABBITMQ_NODENAME" check_port_connectivity >/dev/null 2>&1; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    log "the broker exited; last lines of its output:"; tail -n 30 "$DIR/server.out" >&2 || true
    exit 1
  fi
  if ((SECONDS > deadline)); then
    log "timed out; last lines of the log:"; tail -n 30 "$DIR/server.out" >&2 || true
    exit 1
  fi
  sleep 0.5
done
log "up after $SECONDS s"
print_env

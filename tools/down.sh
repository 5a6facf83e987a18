#!/usr/bin/env bash
# down.sh — stops what up.sh started (services by PID file, then the S3 server and RabbitMQ).
set -uo pipefail
cd "$(dirname "$0")/.."
UP="$PWD/artifacts/up"
for f in "$UP"/pids/*.pid; do
  [[ -f $f ]] || continue
  pid=$(cat "$f"); kill "$pid" 2>/dev/null && echo "stopped $(basename "$f" .pid) ($pid)"
  rm -f "$f"
done
export RABBITMQ_TEST_NODE=landmark-up
tools/s3-server/stop.sh "$UP/s3" || true
tools/rabbitmq/stop.sh "$UP/rabbitmq" || true

#!/usr/bin/env bash
# stop.sh — stops the broker started by start.sh for DATA_DIR (same defaults).
set -uo pipefail
DIR="${1:-${RABBITMQ_TEST_DIR:-/tmp/landmark-rabbitmq}}"
NODE_NAME="${RABBITMQ_TEST_NODE:-landmark-test}"
export HOME="${HOME:-/root}"
rabbitmqctl -q -n "${NODE_NAME}@localhost" stop >/dev/null 2>&1 || true

#!/usr/bin/env bash
# run-tests.sh — runs every test project of the solution and ends with one line "N passed, N failed".
# Usage: build/run-tests.sh [--unit] [extra dotnet test arguments]
#   --unit   only the unit test projects (Landmark.Unit.slnf): no servers, no end-to-end runs.
# Servers: when RABBITMQ_HOST / S3_ENDPOINT are set (.ci/run exports them) the tests use those. Otherwise this script
# starts RabbitMQ and the S3 server (tools/*/start.sh, their default directories /tmp/landmark-rabbitmq and
# /tmp/landmark-s3), shares them with every test project, and stops the ones it started when the run ends, also on
# failure or Ctrl-C; servers that were already up are reused and left up. (A single `dotnet test` of an integration
# project outside this script starts them through its fixtures and leaves them up for the next run:
# tools/rabbitmq/stop.sh and tools/s3-server/stop.sh stop them.)
set -uo pipefail
cd "$(dirname "$0")/.."
tests="Landmark.Services.sln"
if [[ "${1:-}" == "--unit" ]]; then
  tests="Landmark.Unit.slnf"
  shift
fi
# No usage reports from test buses (the code disables them too).
export MASSTRANSIT_USAGE_TELEMETRY=false
results="${TEST_RESULTS_DIR:-artifacts/test-results}"
rm -rf "$results"
mkdir -p "$results"

dotnet build Landmark.Services.sln -c "${CONFIGURATION:-Debug}" -nologo -clp:ErrorsOnly
build_rc=$?
if [[ $build_rc -ne 0 ]]; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

if [[ "$tests" == "Landmark.Services.sln" ]]; then
  started=()
  stop_servers() {
    for s in "${started[@]}"; do
      case "$s" in
        rabbitmq) tools/rabbitmq/stop.sh ;;
        s3) tools/s3-server/stop.sh ;;
      esac
    done
  }
  trap stop_servers EXIT
  if [[ -z "${RABBITMQ_HOST:-}" ]]; then
    HOME="${HOME:-/root}" rabbitmqctl -q -n landmark-test@localhost status >/dev/null 2>&1 || started+=(rabbitmq)
    rabbit_env=$(tools/rabbitmq/start.sh) || { echo "RabbitMQ did not start"; echo "0 passed, 1 failed"; exit 1; }
    eval "$rabbit_env"
    export RABBITMQ_HOST RABBITMQ_PORT RABBITMQ_USER RABBITMQ_PASSWORD RABBITMQ_NODE
  fi
  if [[ -z "${S3_ENDPOINT:-}" ]]; then
    [[ -f /tmp/landmark-s3/run/rgw.pid ]] && kill -0 "$(cat /tmp/landmark-s3/run/rgw.pid)" 2>/dev/null || started+=(s3)
    s3_env=$(tools/s3-server/start.sh) || { echo "the S3 server did not start"; echo "0 passed, 1 failed"; exit 1; }
    eval "$s3_env"
    export S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_DATA_DIR
  fi
fi

dotnet test "$tests" -c "${CONFIGURATION:-Debug}" --no-build -nologo \
  --logger "trx" --results-directory "$results" --logger "console;verbosity=normal" "$@" 2>&1 | tee "$results/console.log" \
  | grep -E --line-buffered '^\s*(Passed|Failed|Skipped) |Passed!|Failed!|error|Error Message|Assert|^\s+at .*Tests' 
test_rc=${PIPESTATUS[0]}

# Count outcomes from the TRX files (one per test project). The failed tests are listed too, each with the first lines
# of its message, on stderr near the summary (a CI log's tail is often all that is kept).
read -r passed failed skipped < <(python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
p = f = s = 0
listed = []
for path in sorted(glob.glob(sys.argv[1] + "/*.trx")):
    root = ET.parse(path).getroot()
    c = root.find(".//{*}ResultSummary/{*}Counters")
    if c is None: continue
    p += int(c.get("passed", 0)); f += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0)) + int(c.get("aborted", 0))
    s += int(c.get("notExecuted", 0))
    for r in root.findall(".//{*}UnitTestResult"):
        if r.get("outcome") in ("Passed", "NotExecuted"):
            continue
        message = r.find("{*}Output/{*}ErrorInfo/{*}Message")
        text = (message.text or "").strip() if message is not None else ""
        listed.append((r.get("testName"), r.get("outcome"), r.get("duration"), text))
if listed:
    print(f"failed tests ({len(listed)}):", file=sys.stderr)
    for name, outcome, duration, text in listed[:20]:
        print(f"  {outcome}: {name} [{duration}]", file=sys.stderr)
        for line in text.splitlines()[:6]:
            print(f"      {line[:300]}", file=sys.stderr)
print(p, f, s)
PY
)
if [[ "$tests" == "Landmark.Services.sln" ]]; then
  projects=$(dotnet sln Landmark.Services.sln list | grep -c 'Tests\.csproj$' || true)
else
  projects=$(grep -c 'Tests\.csproj"' "$tests" || true)
fi
trx=$(ls "$results"/*.trx 2>/dev/null | wc -l)
if [[ $test_rc -ne 0 && ${failed:-0} -eq 0 ]]; then
  echo "dotnet test exited with $test_rc without a failed test (a test host crashed?); counting it as a failure"
  failed=1
fi
if [[ $trx -lt $projects ]]; then
  echo "only $trx of $projects test projects reported results"
  failed=$(( ${failed:-0} + projects - trx ))
fi
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
[[ ${failed:-0} -eq 0 ]]

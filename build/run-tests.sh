#!/usr/bin/env bash
# run-tests.sh — runs every test project of the solution and ends with one line "N passed, N failed".
# Integration tests start RabbitMQ and the S3 server themselves when RABBITMQ_HOST / S3_ENDPOINT are not set.
# Usage: build/run-tests.sh [extra dotnet test arguments]
set -uo pipefail
cd "$(dirname "$0")/.."
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

dotnet test Landmark.Services.sln -c "${CONFIGURATION:-Debug}" --no-build -nologo \
  --logger "trx" --results-directory "$results" --logger "console;verbosity=normal" "$@" 2>&1 | tee "$results/console.log" \
  | grep -E --line-buffered '^\s*(Passed|Failed|Skipped) |Passed!|Failed!|error|Error Message|Assert|^\s+at .*Tests' 
test_rc=${PIPESTATUS[0]}

# Count outcomes from the TRX files (one per test project).
read -r passed failed skipped < <(python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
p = f = s = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(path).getroot().find(".//{*}ResultSummary/{*}Counters")
    if c is None: continue
    p += int(c.get("passed", 0)); f += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0)) + int(c.get("aborted", 0))
    s += int(c.get("notExecuted", 0))
print(p, f, s)
PY
)
projects=$(dotnet sln Landmark.Services.sln list | grep -c 'Tests\.csproj$' || true)
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

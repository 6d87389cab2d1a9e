#!/usr/bin/env bash
# Run every test: set up (venv + colcon build), `colcon test`, then `colcon test-result`, which
# exits non-zero on any failure (`colcon test` alone exits 0 when tests fail).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup.sh"
venv="$repo/.venv"

# An isolated ROS 2 domain for this run, localhost only.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( $$ % 100 + 1 ))}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST

# First the README's main job, briefly, as a new user runs it (on a fresh clone its kernel
# cache is cold): it fails on a device fault or fallback, a burst error, or missed bursts
# beyond a margin (scripts/demo.py --check).
demo_log="$repo/ws/demo-check.log"
echo "test: the main job for ${DEMO_SECONDS:-5} s (scripts/run_demo.sh --check; log $demo_log)"
demo_status=0
bash "$repo/scripts/run_demo.sh" --seconds "${DEMO_SECONDS:-5}" --check > "$demo_log" 2>&1 \
    || demo_status=$?
grep -E '^(demo|ran|bursts|device|\[.*(configured|ERROR|WARN))' "$demo_log" | grep -v ' -> ' || true
if [ "$demo_status" != 0 ]; then
    echo "test: the main job failed (exit $demo_status):" >&2
    tail -n 30 "$demo_log" >&2
fi
# Numba caches compiled kernels per user; keep CI's inside the workspace.
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$repo/ws/numba-cache}"
echo "test: ROS_DOMAIN_ID=$ROS_DOMAIN_ID ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST"

cd "$repo/ws"
rm -rf build/feagi_hailo_ros/pytest.xml test_results
status=0
PATH="$venv/bin:$PATH" "$venv/bin/colcon" --log-base log test --base-paths "$repo" \
    --build-base build --install-base install \
    --event-handlers console_direct+ \
    --pytest-args -p no:cacheprovider -ra "$@" || status=$?
set +e
result="$(PATH="$venv/bin:$PATH" "$venv/bin/colcon" test-result --test-result-base build \
    --verbose 2>&1)"
result_status=$?
set -e
echo "$result"
summary="$(echo "$result" | grep -E '^Summary:' | tail -1)"
if [ -z "$summary" ]; then
    echo "test: no test results were found" >&2
    exit 1
fi
# Summary: N tests, E errors, F failures, S skipped
read -r total errors failures skipped < <(echo "$summary" \
    | sed -E 's/Summary: ([0-9]+) tests?, ([0-9]+) errors?, ([0-9]+) failures?, ([0-9]+) skipped.*/\1 \2 \3 \4/')
passed=$(( total - errors - failures - skipped ))

# The ROS-free core again with numpy 1.26, as on a robot whose HailoRT binding needs numpy<2.
np1="$repo/.venv-numpy1"
np1_stamp="$(sha256sum "$repo/requirements/numpy1.txt" | cut -d' ' -f1)"
if [ "$(cat "$np1/.setup-stamp" 2>/dev/null)" != "$np1_stamp" ]; then
    echo "test: setting up $np1 (numpy 1.26) for the ROS-free tests"
    python3 -m venv "$np1"
    touch "$np1/COLCON_IGNORE"
    "$np1/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$repo/requirements/numpy1.txt" > "$np1/pip-install.log" 2>&1 \
        || { grep -v "is neither a file nor a directory" "$np1/pip-install.log" >&2; exit 1; }
    echo "$np1_stamp" > "$np1/.setup-stamp"
fi
np1_xml="$repo/ws/numpy1-pytest.xml"   # outside build/: colcon test-result reads every XML there
echo "test: ROS-free tests with $("$np1/bin/python" -c 'import numpy; print("numpy", numpy.__version__)')"
set +e
(cd "$repo" && PYTHONPATH="$repo" "$np1/bin/python" -m pytest -q -p no:cacheprovider -ra \
    --junitxml="$np1_xml" test --ignore-glob='test/test_ros_*' \
    --ignore=test/test_flake8.py --ignore=test/test_pep257.py "$@")
np1_status=$?
set -e
read -r np1_total np1_errors np1_failures np1_skipped < <("$np1/bin/python" - "$np1_xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
try:
    suite = ET.parse(sys.argv[1]).getroot().find('testsuite')
    print(*(suite.get(k) for k in ('tests', 'errors', 'failures', 'skipped')))
except (OSError, ET.ParseError, AttributeError):
    print(0, 1, 0, 0)
PY
)
np1_passed=$(( np1_total - np1_errors - np1_failures - np1_skipped ))
echo "numpy 1.26 pass: $np1_passed passed, $(( np1_errors + np1_failures )) failed"

demo_failed=$(( demo_status != 0 ))
failed=$(( errors + failures + np1_errors + np1_failures + demo_failed ))
echo "main job check: $(( 1 - demo_failed )) passed, $demo_failed failed"
echo "tests: $(( passed + np1_passed + 1 - demo_failed )) passed, $failed failed, $(( skipped + np1_skipped )) skipped"
if [ "$status" != 0 ] || [ "$result_status" != 0 ] || [ "$np1_status" != 0 ] || [ "$failed" != 0 ]; then
    exit 1
fi

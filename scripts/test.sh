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
echo "tests: $passed passed, $(( errors + failures )) failed, $skipped skipped"
if [ "$status" != 0 ] || [ "$result_status" != 0 ] || [ $(( errors + failures )) != 0 ]; then
    exit 1
fi

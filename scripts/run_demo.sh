#!/usr/bin/env bash
# The main job: set up, then run the node on the demo brain with a synthetic camera and the
# emulated Hailo for a set time, printing burst statistics. Extra arguments go to demo.py.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup.sh"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( $$ % 100 + 1 ))}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
exec "$repo/.venv/bin/python" "$repo/scripts/demo.py" "$@"

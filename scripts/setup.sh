#!/usr/bin/env bash
# Set up everything the package needs, inside the repo: a venv (.venv) and a colcon workspace
# build (ws/). Idempotent: pip runs only when the requirement files change.
# Where a system ROS 2 is sourced (ROS_DISTRO set and rclpy importable), it is used instead of
# the PyPI wheels (the venv then sees the system's site-packages).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
venv="$repo/.venv"
python="${PYTHON:-python3}"

use_system_ros=0
if [ -n "${ROS_DISTRO:-}" ] && "$python" -c 'import rclpy' >/dev/null 2>&1; then
    use_system_ros=1
fi

reqs=(requirements/runtime.txt requirements/test.txt)
[ "$use_system_ros" = 1 ] || reqs=(requirements/ros-kilted.txt "${reqs[@]}")
stamp_value="$(cat "${reqs[@]}" requirements/test-optional.txt setup.py | sha256sum | cut -d' ' -f1)-$use_system_ros-$("$python" -V 2>&1)"

if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv (system ROS 2: $([ $use_system_ros = 1 ] && echo "$ROS_DISTRO" || echo no, using PyPI wheels))"
    if [ "$use_system_ros" = 1 ]; then
        "$python" -m venv --system-site-packages "$venv"
    else
        "$python" -m venv "$venv"
    fi
    touch "$venv/COLCON_IGNORE"
fi

if [ "$(cat "$venv/.setup-stamp" 2>/dev/null)" != "$stamp_value" ]; then
    echo "setup: installing pinned requirements into .venv (a few minutes the first time)"
    pip_log="$venv/pip-install.log"
    : > "$pip_log"
    pip_install() {
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >>"$pip_log" 2>&1 \
            || { grep -v "is neither a file nor a directory" "$pip_log" >&2
                 echo "setup: pip install $* failed (log: $pip_log)" >&2; exit 1; }
    }
    pip_install --upgrade pip
    if [ "$use_system_ros" = 1 ]; then
        # Keep the robot's numpy/OpenCV (HailoRT needs numpy<2): install only what is missing.
        for req in $(grep -hvE '^\s*(#|$)' "${reqs[@]}"); do
            mod="${req%%==*}"
            case "$mod" in
                numpy) imp=numpy ;; opencv-python-headless) imp=cv2 ;; PyYAML) imp=yaml ;;
                *) imp="${mod//-/_}" ;;
            esac
            "$venv/bin/python" -c "import $imp" >/dev/null 2>&1 \
                || pip_install "$req"
        done
    else
        pip_install $(printf -- '-r %s ' "${reqs[@]}")
    fi
    for req in $(grep -hvE '^\s*(#|$)' requirements/test-optional.txt); do
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$req" \
            >>"$pip_log" 2>&1 || echo "setup: optional $req did not install; its tests will skip"
    done
    pip_install --no-deps -e "$repo"
    echo "$stamp_value" > "$venv/.setup-stamp"
fi

# colcon workspace build (symlink install: edits in the repo need no rebuild of Python code).
mkdir -p ws
touch ws/COLCON_IGNORE
colcon=("$venv/bin/colcon")
[ -x "${colcon[0]}" ] || colcon=(colcon)
(
    cd ws
    PATH="$venv/bin:$PATH" "${colcon[@]}" --log-base log build --base-paths "$repo" \
        --build-base build --install-base install --symlink-install \
        --event-handlers console_direct- \
        > build.log 2>&1 || { cat build.log; echo "setup: colcon build failed" >&2; exit 1; }
)
echo "setup: ready (.venv/bin/feagi-hailo, colcon install tree in ws/install)"

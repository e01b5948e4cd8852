#!/usr/bin/env bash
# One-command setup on a machine without ROS (Debian 12 or similar, x86_64, Python 3.10-3.13):
#   Debian packages (only those missing), .venv with pinned Python deps incl. the ROS 2 Kilted
#   wheels, interfaces/ built into the venv, this package installed (editable, with its ament
#   share folder), the loopback DDS profile as every kvision process's default.
# Idempotent: each step is skipped when its inputs did not change (stamps in .venv/.kvision/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KVISION_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
STATE="$VENV/.kvision"
cd "$ROOT"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { [[ -f "$STATE/$1" && "$(cat "$STATE/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STATE"; echo "$2" > "$STATE/$1"; }

# --- 1. Debian packages -------------------------------------------------------------------------
# Runtime libraries of open3d/OpenCV, a compiler for the interface build, venv and headers for Python.
debs=(g++ libusb-1.0-0 libgl1 libegl1 libx11-6 libgomp1)
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || debs+=(python3-venv)
"$PYTHON" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || debs+=(python3-dev)
missing=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $EUID -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi

# --- 2. virtual environment ---------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
version=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
case "$version" in 3.10|3.11|3.12|3.13) ;; *) echo "Python $version: the ROS 2 wheels need 3.10-3.13" >&2; exit 1;; esac

# --- 3. Python dependencies (pinned) ------------------------------------------------------------
req_hash=$(hash_of requirements.txt)
if stamp_ok requirements "$req_hash"; then
  say "Python dependencies up to date"
else
  say "installing Python dependencies (first time: a few minutes)"
  "$PY" -m pip install -q --upgrade pip setuptools wheel
  "$PY" -m pip install -q -r requirements.txt
  stamp_set requirements "$req_hash"
fi

# --- 4. interfaces PyPI lacks (vision_msgs, autoware_perception_msgs, tf2_msgs) ----------------
"$PY" scripts/build_interfaces.py --prefix "$VENV"

# --- 5. this package: editable, plus what `pip install -e` leaves out --------------------------
pkg_hash=$(hash_of setup.py setup.cfg package.xml)
if stamp_ok package "$pkg_hash" && "$PY" -c 'import kvision_driving' 2>/dev/null; then
  say "kvision_driving installed"
else
  say "installing kvision_driving (editable)"
  "$PY" -m pip install -q --no-deps --no-build-isolation -e .
  stamp_set package "$pkg_hash"
fi
# ament index marker and share/ folder (launch, config, models) so get_package_share_directory
# works; lib/<pkg>/<exe> links so launch_ros finds the executables as on a colcon install.
"$PY" scripts/link_share.py --prefix "$VENV"

# --- 6. environment of the venv -----------------------------------------------------------------
# Every kvision process applies the loopback DDS profile itself (kvision_driving/ros/dds.py);
# activation only adds the venv to the ament index path.
activate="$VENV/bin/activate"
if ! grep -q "kvision_driving: ament" "$activate"; then
  cat >> "$activate" <<'EOF'
# kvision_driving: ament index in the venv (get_package_share_directory, ros2 tools)
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
EOF
fi

"$VENV/bin/kvision" doctor >/dev/null || { "$VENV/bin/kvision" doctor; exit 1; }
say "ready: source .venv/bin/activate, then kvision --help; tests: ./scripts/test.sh"

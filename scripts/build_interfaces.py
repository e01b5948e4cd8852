"""Build the interface packages in interfaces/ into a Python venv that has the ROS 2 wheels.

Only for machines whose ROS 2 lacks vision_msgs, autoware_perception_msgs and tf2_msgs (the pip
install). On a vehicle these packages come from the ROS distribution and this script is not used.

Two quirks of the PyPI wheels are handled here (see ENVIRONMENT.md):
  * AMENT_PREFIX_PATH must name the venv while CMake runs;
  * the wheels' exported CMake files hard-code the wheel builder's Python and numpy include
    directories, which are rewritten to this interpreter's before configuring.

A package is rebuilt only when its definitions changed (a hash stamp is kept in the venv).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy

# Order matters: nothing here depends on another package of ours, but keep it stable.
PACKAGES = ("tf2_msgs", "vision_msgs", "autoware_perception_msgs")
_BUILDER_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
_BUILDER_NUMPY = re.compile(r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/_core/include")


def fix_exported_cmake(prefix: Path) -> int:
    """Point the wheels' exported include directories at this interpreter. Returns files changed."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for path in (prefix / "share").rglob("*.cmake"):
        text = path.read_text()
        if "/opt/python/" not in text:
            continue
        new = _BUILDER_NUMPY.sub(numpy_include, text)
        new = _BUILDER_INCLUDE.sub(python_include, new)
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


def definitions_hash(package_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in package_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(package_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_package(source: Path, prefix: Path, build_root: Path, jobs: int) -> None:
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = str(prefix)
    env["PATH"] = f"{prefix / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    build = build_root / source.name
    cmake = str(prefix / "bin" / "cmake") if (prefix / "bin" / "cmake").exists() else "cmake"
    configure = [
        cmake,
        "-S",
        str(source),
        "-B",
        str(build),
        f"-DCMAKE_PREFIX_PATH={prefix}",
        f"-DCMAKE_INSTALL_PREFIX={prefix}",
        f"-DPython3_EXECUTABLE={sys.executable}",
        "-DBUILD_TESTING=OFF",
        "-DCMAKE_BUILD_TYPE=Release",
    ]
    subprocess.run(configure, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cmake, "--build", str(build), "-j", str(jobs)], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cmake, "--install", str(build)], env=env, check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, default=Path(sys.prefix), help="venv to install into")
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent / "interfaces")
    parser.add_argument("--build-dir", type=Path, default=None, help="default: <prefix>/.kvision/interfaces-build")
    parser.add_argument("--force", action="store_true", help="rebuild even when the stamp matches")
    args = parser.parse_args()

    prefix = args.prefix.resolve()
    state = prefix / ".kvision"
    build_root = args.build_dir or state / "interfaces-build"
    state.mkdir(parents=True, exist_ok=True)
    changed = fix_exported_cmake(prefix)
    if changed:
        print(f"rewrote builder include paths in {changed} exported CMake files")
    jobs = max(1, os.cpu_count() or 1)
    for name in PACKAGES:
        source = args.source / name
        stamp = state / f"interface-{name}.sha256"
        digest = definitions_hash(source)
        if not args.force and stamp.exists() and stamp.read_text().strip() == digest:
            print(f"{name}: up to date")
            continue
        print(f"{name}: building")
        build_package(source, prefix, build_root, jobs)
        stamp.write_text(digest + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Give an editable pip install the ament layout a colcon install has.

``pip install -e .`` installs no data_files, so ``get_package_share_directory`` and launch_ros
would not find this package. This links, idempotently:
  <prefix>/share/ament_index/resource_index/packages/kvision_driving   (the ament marker)
  <prefix>/share/kvision_driving/package.xml                             -> the source tree's
  <prefix>/share/kvision_driving/{launch,config,models}/...              real folders, one link per file
  <prefix>/lib/kvision_driving/<executable>                             -> <prefix>/bin/<executable>
Folders are real, as colcon makes them: ``ros2 launch`` finds launch files with ``os.walk``, which does not
follow a link to a folder. Links to files the source tree no longer has are removed.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

PACKAGE = "kvision_driving"
FOLDERS = ("launch", "config", "models")


def link(target: Path, link_path: Path) -> None:
    if link_path.is_symlink() and link_path.resolve() == target.resolve():
        return
    if link_path.is_symlink() or link_path.is_file():
        link_path.unlink()
    link_path.parent.mkdir(parents=True, exist_ok=True)
    link_path.symlink_to(target)


def mirror(source: Path, share: Path) -> None:
    """``share`` as a tree of real folders holding a link to every file under ``source``."""
    if share.is_symlink():  # the earlier layout: one link for the whole folder
        share.unlink()
    wanted = set()
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            wanted.add(share / path.relative_to(source))
            link(path, share / path.relative_to(source))
    for path in sorted(share.rglob("*"), reverse=True):
        if path.is_symlink() and path not in wanted:
            path.unlink()
        elif path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, default=Path(sys.prefix))
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    prefix, source = args.prefix.resolve(), args.source.resolve()

    marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    link(source / "package.xml", prefix / "share" / PACKAGE / "package.xml")
    for name in FOLDERS:
        (source / name).mkdir(exist_ok=True)
        mirror(source / name, prefix / "share" / PACKAGE / name)

    scripts = [entry.name for entry in metadata.distribution(PACKAGE).entry_points if entry.group == "console_scripts"]
    for name in scripts:
        link(prefix / "bin" / name, prefix / "lib" / PACKAGE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Give an editable pip install the ament layout a colcon install has.

``pip install -e .`` installs no data_files, so ``get_package_share_directory`` and launch_ros
would not find this package. This links, idempotently:
  <prefix>/share/ament_index/resource_index/packages/kvision_driving   (the ament marker)
  <prefix>/share/kvision_driving/{package.xml,launch,config,models}     -> the source tree
  <prefix>/lib/kvision_driving/<executable>                             -> <prefix>/bin/<executable>
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

PACKAGE = "kvision_driving"
SHARED = ("package.xml", "launch", "config", "models")


def link(target: Path, link_path: Path) -> None:
    if link_path.is_symlink() and link_path.resolve() == target.resolve():
        return
    if link_path.is_symlink() or link_path.is_file():
        link_path.unlink()
    link_path.parent.mkdir(parents=True, exist_ok=True)
    link_path.symlink_to(target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, default=Path(sys.prefix))
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    prefix, source = args.prefix.resolve(), args.source.resolve()

    marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    for name in SHARED:
        (source / name).mkdir(exist_ok=True) if name != "package.xml" else None
        link(source / name, prefix / "share" / PACKAGE / name)

    scripts = [entry.name for entry in metadata.distribution(PACKAGE).entry_points if entry.group == "console_scripts"]
    for name in scripts:
        link(prefix / "bin" / name, prefix / "lib" / PACKAGE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the package's data folders (config/, models/, launch/) are: the source tree, else the install."""

from __future__ import annotations

from pathlib import Path


def installed_path(*parts: str) -> Path:
    """``<root>/<parts...>`` in the source tree when it has it, else in the ament share folder."""
    source = Path(__file__).resolve().parents[1].joinpath(*parts)
    if source.exists():
        return source
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("kvision_driving")).joinpath(*parts)
    except (LookupError, OSError, ValueError):
        return source

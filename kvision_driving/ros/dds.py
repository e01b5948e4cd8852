"""Default DDS configuration for every kvision process: loopback only, large-message friendly.

Fast DDS reads ``FASTDDS_DEFAULT_PROFILES_FILE`` when the first participant is created, so
:func:`apply_default_dds_profile` must run before ``rclpy.init()``; every ``main()`` in this
package calls it first. An explicit DDS configuration by the user always wins: if any of the
variables in :data:`USER_DDS_SETTINGS` is set, nothing is changed, so a vehicle's own DDS setup
(and RViz on another machine) keeps working. ``KVISION_DDS_PROFILE=system`` opts out explicitly.

This module imports no rclpy: it only edits the environment.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from importlib import resources
from pathlib import Path

PROFILE_RESOURCE = "fastdds_loopback.xml"
OPT_OUT = "system"

#: Any of these set by the user means DDS is configured deliberately: leave it alone.
USER_DDS_SETTINGS = (
    "FASTDDS_DEFAULT_PROFILES_FILE",
    "FASTRTPS_DEFAULT_PROFILES_FILE",
    "ROS_AUTOMATIC_DISCOVERY_RANGE",
    "ROS_STATIC_PEERS",
    "CYCLONEDDS_URI",
)


def default_profile_path() -> Path:
    """The loopback large-data Fast DDS profile shipped inside this package."""
    return Path(str(resources.files("kvision_driving.ros").joinpath(PROFILE_RESOURCE)))


def apply_default_dds_profile(env: MutableMapping[str, str] | None = None) -> str | None:
    """Point Fast DDS at the loopback profile unless the user configured DDS.

    Returns the profile path that was applied, or ``None`` when the user's settings were kept.
    ``KVISION_DDS_PROFILE`` may name another profile file, or be ``system`` to opt out.
    """
    env = os.environ if env is None else env
    choice = env.get("KVISION_DDS_PROFILE", "").strip()
    if choice == OPT_OUT:
        return None
    if not choice and any(env.get(name) for name in USER_DDS_SETTINGS):
        return None
    rmw = env.get("RMW_IMPLEMENTATION", "")
    if rmw and rmw != "rmw_fastrtps_cpp":
        return None  # the profile is Fast DDS specific
    profile = Path(choice) if choice else default_profile_path()
    if not profile.is_file():
        raise FileNotFoundError(f"DDS profile not found: {profile} (KVISION_DDS_PROFILE)")
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    return str(profile)

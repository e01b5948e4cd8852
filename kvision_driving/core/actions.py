"""The action labels of road users, shared by the simulator, the action network and the node."""

from __future__ import annotations

VEHICLE_ACTIONS: tuple[str, ...] = ("stopped", "moving", "braking", "signal_left", "signal_right", "hazard")
PEDESTRIAN_ACTIONS: tuple[str, ...] = ("standing", "walking", "crossing")
ACTIONS: tuple[str, ...] = VEHICLE_ACTIONS + PEDESTRIAN_ACTIONS
ACTION_ID = {name: index for index, name in enumerate(ACTIONS)}
UNKNOWN_ACTION = "unknown"

#: Cyclists have no lights: they are labelled with the vehicle actions they can show (stopped, moving).
CYCLIST_ACTIONS: tuple[str, ...] = ("stopped", "moving")

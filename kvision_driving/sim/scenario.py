"""Scenarios are data: YAML files in config/scenarios/, parsed into typed specs with clear errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

VEHICLE_KINDS = ("car", "truck", "bicycle")
VEHICLE_EVENTS = ("brake", "speed", "lane_change", "hazard")
PEDESTRIAN_MODES = ("stand", "walk")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Event:
    at: float
    kind: str  # brake | speed | lane_change | hazard | cross
    value: float = 0.0  # brake: deceleration m/s2; speed: new target m/s; lane_change: target lane
    duration: float = 3.0  # lane change duration


@dataclass(frozen=True)
class VehicleSpec:
    kind: str
    road: str
    lane: int
    s: float  # along the lane, from the road's start in the lane's direction
    speed: float
    turn: str = ""  # "", "left" or "right" (main road, forward lane 0)
    hazard: bool = False
    parked: bool = False
    paint: str = ""
    events: tuple[Event, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class PedestrianSpec:
    side: str  # right | left of the main road
    s: float
    speed: float = 1.4
    mode: str = "walk"  # stand | walk (along the sidewalk)
    direction: int = 1  # +1 along the road, -1 against
    offset: float = 0.0  # metres from the sidewalk centre towards the road (> 0: nearer the kerb)
    road: str = "main"
    events: tuple[Event, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class EgoSpec:
    lane: int = 0
    s: float = 40.0
    speed: float = 10.0
    route: str = "straight"  # straight | left | right (intersection only)
    cruise_speed: float = 12.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int
    duration: float
    layout: str
    lanes: int
    road_length: float
    ego: EgoSpec
    vehicles: tuple[VehicleSpec, ...]
    pedestrians: tuple[PedestrianSpec, ...]
    parked_side: str = ""
    parked_count: int = 0
    parked_start: float = 50.0
    parked_spacing: float = 7.0
    traffic_density: float = 0.0
    passable: bool = True
    min_progress: float = 0.9
    # Closed-loop route completion: the run ends when ego has made good ``goal`` metres along its route
    # (None: what cruising for ``duration`` would cover) or at ``time_limit`` seconds (None: twice ``duration``).
    goal: float | None = None
    time_limit: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def with_seed(self, seed: int) -> Scenario:
        """The same scenario with another seed: different scenery, colours and traffic."""
        from dataclasses import replace

        return replace(self, seed=seed)


def _number(data: dict, key: str, where: str, default: float | None = None, minimum: float | None = None) -> float:
    if key not in data:
        if default is None:
            raise ScenarioError(f"{where}: missing '{key}'")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{where}: '{key}' must be a number, got {value!r}")
    if value != value or (minimum is not None and value < minimum):
        raise ScenarioError(f"{where}: '{key}' = {value} is out of range (minimum {minimum})")
    return float(value)


def _choice(data: dict, key: str, where: str, choices: tuple[str, ...], default: str) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise ScenarioError(f"{where}: '{key}' must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _events(items: Any, where: str, allowed: tuple[str, ...]) -> tuple[Event, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ScenarioError(f"{where}: 'events' must be a list")
    events = []
    for index, item in enumerate(items):
        item_where = f"{where} event {index}"
        item = _mapping(item, item_where)
        kinds = [key for key in item if key not in ("at", "duration")]
        if len(kinds) != 1 or kinds[0] not in allowed:
            raise ScenarioError(f"{item_where}: needs 'at' and exactly one of {', '.join(allowed)}, got {sorted(item)}")
        kind = kinds[0]
        raw = item[kind]
        value = float(raw) if not isinstance(raw, bool) and isinstance(raw, (int, float)) else float(bool(raw))
        if kind == "brake" and value <= 0:
            raise ScenarioError(f"{item_where}: brake deceleration must be positive")
        events.append(
            Event(
                _number(item, "at", item_where, minimum=0.0),
                kind,
                value,
                _number(item, "duration", item_where, 3.0, minimum=0.5),
            )
        )
    return tuple(sorted(events, key=lambda event: event.at))


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    root = _mapping(data, source)
    name = str(root.get("name", Path(source).stem))
    road = _mapping(root.get("road", {}), f"{source}: road")
    layout = _choice(road, "layout", f"{source}: road", ("straight", "curve", "intersection"), "straight")
    lanes = int(_number(road, "lanes", f"{source}: road", 1, minimum=1))
    if lanes > 3:
        raise ScenarioError(f"{source}: road: at most 3 lanes each way")
    ego_data = _mapping(root.get("ego", {}), f"{source}: ego")
    ego = EgoSpec(
        lane=int(_number(ego_data, "lane", f"{source}: ego", 0, minimum=0)),
        s=_number(ego_data, "s", f"{source}: ego", 40.0, minimum=0.0),
        speed=_number(ego_data, "speed", f"{source}: ego", 10.0, minimum=0.0),
        route=_choice(ego_data, "route", f"{source}: ego", ("straight", "left", "right"), "straight"),
        cruise_speed=_number(ego_data, "cruise_speed", f"{source}: ego", 12.0, minimum=0.5),
    )
    if ego.lane >= lanes:
        raise ScenarioError(f"{source}: ego lane {ego.lane} does not exist on a road with {lanes} lanes each way")
    if ego.route != "straight" and layout != "intersection":
        raise ScenarioError(f"{source}: ego route '{ego.route}' needs the intersection layout")
    vehicles = []
    for index, item in enumerate(root.get("vehicles", []) or []):
        where = f"{source}: vehicles[{index}]"
        item = _mapping(item, where)
        turn = str(item.get("turn", ""))
        if turn not in ("", "left", "right") or (turn and layout != "intersection"):
            raise ScenarioError(f"{where}: 'turn' must be left or right, on the intersection layout")
        lane = int(_number(item, "lane", where, 0))
        if not (-lanes <= lane < lanes) or (lane < 0 and -lane > lanes):
            raise ScenarioError(f"{where}: lane {lane} does not exist (lanes {-lanes}..{lanes - 1})")
        vehicles.append(
            VehicleSpec(
                kind=_choice(item, "kind", where, VEHICLE_KINDS, "car"),
                road=_choice(item, "road", where, ("main", "cross"), "main"),
                lane=lane,
                s=_number(item, "s", where, minimum=0.0),
                speed=_number(item, "speed", where, 10.0, minimum=0.0),
                turn=turn,
                hazard=bool(item.get("hazard", False)),
                paint=str(item.get("paint", "")),
                events=_events(item.get("events"), where, VEHICLE_EVENTS),
                name=str(item.get("name", "")),
            )
        )
    pedestrians = []
    for index, item in enumerate(root.get("pedestrians", []) or []):
        where = f"{source}: pedestrians[{index}]"
        item = _mapping(item, where)
        pedestrians.append(
            PedestrianSpec(
                side=_choice(item, "side", where, ("right", "left"), "right"),
                s=_number(item, "s", where, minimum=0.0),
                speed=_number(item, "speed", where, 1.4, minimum=0.0),
                mode=_choice(item, "mode", where, PEDESTRIAN_MODES, "walk"),
                direction=1 if _number(item, "direction", where, 1.0) >= 0 else -1,
                offset=_number(item, "offset", where, 0.0),
                events=_events(item.get("events"), where, ("cross", "walk", "stand")),
                name=str(item.get("name", "")),
            )
        )
    parked = _mapping(root.get("parked", {}) or {}, f"{source}: parked")
    if parked and layout == "intersection":
        raise ScenarioError(f"{source}: parked cars are not supported on the intersection layout")
    traffic = _mapping(root.get("traffic", {}) or {}, f"{source}: traffic")
    success = _mapping(root.get("success", {}) or {}, f"{source}: success")
    return Scenario(
        name=name,
        description=str(root.get("description", "")),
        seed=int(_number(root, "seed", source, 0, minimum=0)),
        duration=_number(root, "duration", source, 10.0, minimum=0.5),
        layout=layout,
        lanes=lanes,
        road_length=_number(road, "length", f"{source}: road", 300.0, minimum=100.0),
        ego=ego,
        vehicles=tuple(vehicles),
        pedestrians=tuple(pedestrians),
        parked_side=_choice(parked, "side", f"{source}: parked", ("", "right", "left"), ""),
        parked_count=int(_number(parked, "count", f"{source}: parked", 0, minimum=0)),
        parked_start=_number(parked, "start", f"{source}: parked", 50.0, minimum=0.0),
        parked_spacing=_number(parked, "spacing", f"{source}: parked", 7.0, minimum=5.0),
        traffic_density=_number(traffic, "density", f"{source}: traffic", 0.0, minimum=0.0),
        passable=bool(success.get("passable", True)),
        min_progress=_number(success, "min_progress", f"{source}: success", 0.9, minimum=0.0),
        goal=_number(success, "goal", f"{source}: success", minimum=1.0) if "goal" in success else None,
        time_limit=_number(success, "time_limit", f"{source}: success", minimum=0.5)
        if "time_limit" in success
        else None,
    )


def scenario_dir() -> Path:
    """config/scenarios of the source tree or of the installed share folder."""
    here = Path(__file__).resolve().parents[2] / "config" / "scenarios"
    if here.is_dir():
        return here
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("kvision_driving")) / "config" / "scenarios"


def scenario_names() -> list[str]:
    return sorted(path.stem for path in scenario_dir().glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A scenario by name (config/scenarios/NAME.yaml) or by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = scenario_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            raise ScenarioError(f"unknown scenario {name_or_path!r}; available: {', '.join(scenario_names())}")
    if not path.exists():
        raise ScenarioError(f"scenario file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ScenarioError(f"{path}: not valid YAML: {error}") from error
    return parse_scenario(data, str(path))

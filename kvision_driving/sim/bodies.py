"""Meshes of actors at one instant: vehicles with working lights, pedestrians and cyclists with moving legs."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from kvision_driving.core.geometry import make_transform
from kvision_driving.core.labels import TRAIN_ID
from kvision_driving.sim.actors import ActorTimeline
from kvision_driving.sim.mesh import Mesh, MeshBuilder


def _pose(x: float, y: float, yaw: float, z: float = 0.0) -> NDArray[np.float64]:
    c, s = np.cos(yaw), np.sin(yaw)
    return make_transform(np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]), [x, y, z])


def _local(pose: NDArray, x: float, y: float, z: float, pitch: float = 0.0) -> NDArray[np.float64]:
    """A child transform at (x, y, z) in ``pose``'s frame, optionally pitched about its y axis."""
    c, s = np.cos(pitch), np.sin(pitch)
    return pose @ make_transform(np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]), [x, y, z])


def _vehicle(mesh: MeshBuilder, actor: ActorTimeline, step: int, label: int) -> None:
    length, width, height = actor.size
    pose = _pose(*actor.xy[step], actor.heading[step])
    paint, instance = actor.appearance, actor.actor_id
    truck = actor.kind == "truck"
    body_h = height * (0.55 if not truck else 0.9)
    clearance = 0.3
    mesh.box(_local(pose, 0, 0, clearance + body_h / 2), (length, width, body_h), paint, label, instance)
    if truck:  # a cab in front of the box
        mesh.box(
            _local(pose, length / 2 - 0.9, 0, clearance + height * 0.35),
            (1.8, width * 0.98, height * 0.7),
            "paint_white",
            label,
            instance,
        )
        mesh.box(
            _local(pose, length / 2 - 0.2, 0, clearance + height * 0.5),
            (0.45, width * 0.9, height * 0.25),
            "car_glass",
            label,
            instance,
        )
    else:  # cabin with glass all round
        cabin_h = height - body_h - clearance
        mesh.box(
            _local(pose, -0.2, 0, clearance + body_h + cabin_h / 2),
            (length * 0.5, width * 0.88, cabin_h),
            "car_glass",
            label,
            instance,
        )
    for wx in (length / 2 - 0.8, -length / 2 + 0.8):
        for wy in (width / 2 - 0.15, -width / 2 + 0.15):
            mesh.box(_local(pose, wx, wy, 0.33), (0.66, 0.25, 0.66), "tyre", label, instance)
    # Lights: thin boxes standing proud of the body so they are seen from behind and in front.
    rear, front = -length / 2 - 0.03, length / 2 + 0.03
    light_z = clearance + body_h * 0.7
    brake = "brake_light_on" if actor.brake_light[step] else "tail_light_off"
    left_on = "indicator_on" if actor.indicator_left[step] else "indicator_off"
    right_on = "indicator_on" if actor.indicator_right[step] else "indicator_off"
    for side, indicator in ((1.0, left_on), (-1.0, right_on)):
        y_brake = side * (width / 2 - 0.3)
        y_indicator = side * (width / 2 - 0.1)
        mesh.box(_local(pose, rear, y_brake, light_z), (0.06, 0.35, 0.2), brake, label, instance)
        mesh.box(_local(pose, rear, y_indicator, light_z), (0.06, 0.15, 0.2), indicator, label, instance)
        mesh.box(_local(pose, front, y_indicator, light_z - 0.1), (0.06, 0.15, 0.12), indicator, label, instance)
        mesh.box(
            _local(pose, front, side * (width / 2 - 0.4), light_z - 0.1),
            (0.06, 0.4, 0.16),
            "headlight",
            label,
            instance,
        )
    if truck:  # a centre brake light high up, as on real trucks
        mesh.box(_local(pose, rear, 0, clearance + body_h - 0.2), (0.06, 0.5, 0.12), brake, label, instance)


def _person(
    mesh: MeshBuilder,
    pose: NDArray,
    phase: float,
    clothes: str,
    label: int,
    instance: int,
    scale: float = 1.0,
    seated: bool = False,
) -> None:
    swing = 0.45 * np.sin(phase) if not seated else 0.0
    leg_h, torso_h = 0.85 * scale, 0.6 * scale
    hip = leg_h if not seated else 1.05
    for side, sign in ((0.1, 1.0), (-0.1, -1.0)):
        mesh.box(
            _local(pose, 0, side * scale, hip - leg_h / 2, pitch=sign * swing) @ make_transform(),
            (0.16, 0.15, leg_h),
            "cloth_dark",
            label,
            instance,
        )
        mesh.box(
            _local(pose, 0, side * 2.6 * scale, hip + torso_h * 0.55, pitch=-sign * swing * 0.8),
            (0.1, 0.1, 0.55 * scale),
            clothes,
            label,
            instance,
        )
    mesh.box(_local(pose, 0, 0, hip + torso_h / 2), (0.28 * scale, 0.42 * scale, torso_h), clothes, label, instance)
    mesh.box(_local(pose, 0, 0, hip + torso_h + 0.13), (0.2, 0.18, 0.24), "skin", label, instance)


def _bicycle(mesh: MeshBuilder, actor: ActorTimeline, step: int) -> None:
    pose = _pose(*actor.xy[step], actor.heading[step])
    bike, rider = TRAIN_ID["bicycle"], TRAIN_ID["rider"]
    instance = actor.actor_id
    for wx in (0.6, -0.6):
        mesh.box(_local(pose, wx, 0, 0.35), (0.7, 0.05, 0.7), "tyre", bike, instance)
    mesh.box(_local(pose, 0, 0, 0.6), (1.1, 0.06, 0.08), "bike_frame", bike, instance)
    mesh.box(_local(pose, 0.35, 0, 0.8), (0.06, 0.5, 0.06), "bike_frame", bike, instance)
    _person(mesh, _local(pose, -0.15, 0, 0.0), actor.walk_phase[step], actor.appearance, rider, instance, seated=True)


def actor_mesh(actors: list[ActorTimeline], step: int) -> Mesh:
    """Every actor's body at ``step``, in the map frame."""
    mesh = MeshBuilder()
    for actor in actors:
        if actor.kind in ("car", "truck"):
            _vehicle(mesh, actor, step, TRAIN_ID[actor.kind])
        elif actor.kind == "bicycle":
            _bicycle(mesh, actor, step)
        else:
            pose = _pose(*actor.xy[step], actor.heading[step])
            _person(mesh, pose, actor.walk_phase[step], actor.appearance, TRAIN_ID["person"], actor.actor_id)
    return mesh.build()

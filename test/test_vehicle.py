"""core/vehicle.py by hand: the ego's box centre lies ahead of base_link (the rear axle) along its heading."""

from __future__ import annotations

import numpy as np
import pytest

from kvision_driving.core.vehicle import REAR_AXLE_TO_CENTRE, EgoState


def test_the_box_centre_is_ahead_of_the_rear_axle_along_the_heading() -> None:
    ego = EgoState(x=10.0, y=-2.0, yaw=np.deg2rad(120.0), v=3.0)
    assert ego.xy.tolist() == [10.0, -2.0]
    assert ego.box_centre() == pytest.approx([10.0 - 0.5 * 1.4, -2.0 + np.sqrt(3) / 2 * 1.4])
    assert np.linalg.norm(ego.box_centre() - ego.xy) == pytest.approx(REAR_AXLE_TO_CENTRE)
    assert (ego.a, ego.steer) == (0.0, 0.0)

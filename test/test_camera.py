"""core/camera.py by hand: the pinhole model, what makes intrinsics invalid, projection of points and boxes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from kvision_driving.core.camera import MAX_CAMERA_SIDE, PinholeCamera, project_box_to_image

K = [[100.0, 0.0, 50.0], [0.0, 80.0, 40.0], [0.0, 0.0, 1.0]]


def camera(**changes) -> PinholeCamera:
    fields = {"width": 100, "height": 80, "k": K, "d": np.zeros(5)} | changes
    return PinholeCamera(**fields)


def test_from_fov_is_an_ideal_centred_camera() -> None:
    ideal = PinholeCamera.from_fov(640, 384, np.deg2rad(90.0))
    assert (ideal.fx, ideal.fy, ideal.cx, ideal.cy) == pytest.approx((320.0, 320.0, 320.0, 192.0))
    assert np.array_equal(ideal.p, np.hstack([ideal.k, np.zeros((3, 1))]))
    assert np.array_equal(ideal.r, np.eye(3)) and ideal.d.tolist() == [0.0] * 5


def test_intrinsics_are_read_as_camera_info_lays_them_out() -> None:
    flat = camera(k=np.ravel(K), p=np.arange(12.0), r=np.eye(3).ravel())
    assert flat.k.shape == (3, 3) and (flat.fx, flat.fy, flat.cx, flat.cy) == (100.0, 80.0, 50.0, 40.0)
    assert flat.p.shape == (3, 4) and flat.p[2, 3] == 11.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"width": 0}, "not positive"),
        ({"height": -1}, "not positive"),
        ({"width": MAX_CAMERA_SIDE + 1}, "exceeds"),
        ({"height": MAX_CAMERA_SIDE + 1}, "exceeds"),
        ({"k": [[np.nan, 0, 50], [0, 80, 40], [0, 0, 1]]}, "NaN or inf"),
        ({"p": np.full(12, np.inf)}, "NaN or inf"),
        ({"d": [0, 0, np.nan, 0, 0]}, "NaN or inf"),
        ({"k": [[0.0, 0, 50], [0, 80, 40], [0, 0, 1]]}, "focal lengths"),
        ({"k": [[100.0, 0, 50], [0, -80, 40], [0, 0, 1]]}, "focal lengths"),
        ({"distortion_model": "fisheye"}, "unknown distortion model"),
        ({"d": np.zeros(4)}, "plumb_bob distortion takes \\(5,\\) coefficients, got 4"),
        ({"distortion_model": "rational_polynomial", "d": np.zeros(5)}, "takes \\(8, 12, 14\\)"),
        ({"distortion_model": "", "d": np.zeros(5)}, "no distortion takes"),
        ({"r": np.diag([1.0, 1.0, -1.0])}, "not a rotation"),  # a reflection
        ({"r": np.eye(3) * 1.01}, "not a rotation"),
    ],
)
def test_intrinsics_that_describe_no_real_camera_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        camera(**changes)


@pytest.mark.parametrize(
    ("model", "count"), [("plumb_bob", 0), ("rational_polynomial", 8), ("rational_polynomial", 14), ("equidistant", 4)]
)
def test_every_model_accepts_its_coefficient_counts(model: str, count: int) -> None:
    assert camera(distortion_model=model, d=np.zeros(count)).d.size == count


def test_points_project_with_k_and_only_those_in_front_and_inside_count() -> None:
    points = np.array(
        [
            [0.0, 0.0, 1.0],  # the principal point
            [1.0, -0.5, 2.0],  # (100, 20): u = width is outside
            [-1.0, -1.0, 2.0],  # (0, 0): the first pixel's corner is inside
            [0.98, 0.98, 2.0],  # (99, 79.2): inside
            [0.0, 0.0, -1.0],  # behind
            [0.0, 0.0, 0.0005],  # at the lens
        ]
    )
    uv, inside = camera().project(points)
    assert uv.dtype == np.float32
    assert uv[:4].ravel().tolist() == pytest.approx([50, 40, 100, 20, 0, 0, 99, 79.2], abs=1e-4)
    assert inside.tolist() == [True, False, True, True, False, False]


def corners(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> np.ndarray:
    return np.array([[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)], dtype=np.float64)


def test_a_box_in_front_covers_its_corners_image_rectangle() -> None:
    # Nearest face at z 2 sets the extent: u 100 * [-0.2, 0.2] / 2 + 50, v 80 * [-0.1, 0.3] / 2 + 40.
    rectangle = project_box_to_image(corners(-0.2, 0.2, -0.1, 0.3, 2.0, 4.0), camera())
    assert rectangle == pytest.approx((40.0, 36.0, 60.0, 52.0))


def test_a_box_across_the_camera_is_clipped_at_the_near_plane_then_to_the_image() -> None:
    # From z -1 to 3: corners behind are replaced by the edges' crossings of z 0.5, where x -0.1 projects to
    # u = 30 and x 0.1 to 70; vertically it runs off the image and is clipped to 0 and 80.
    rectangle = project_box_to_image(corners(-0.1, 0.1, -1.0, 1.0, -1.0, 3.0), camera())
    assert rectangle == pytest.approx((30.0, 0.0, 70.0, 80.0))


def test_boxes_behind_the_camera_or_too_small_give_nothing() -> None:
    assert project_box_to_image(corners(-1, 1, -1, 1, -3.0, 0.49), camera()) is None
    small = corners(0.0, 0.07, 0.0, 0.5, 2.0, 2.5)  # 3.5 px wide
    assert project_box_to_image(small, camera()) is None
    assert project_box_to_image(small, camera(), min_size_px=3.0) is not None
    assert project_box_to_image(corners(3.0, 4.0, 0.0, 0.5, 2.0, 2.5), camera()) is None  # right of the image


def test_the_smallest_and_largest_valid_cameras_are_accepted() -> None:
    tiny = camera(width=1, height=1, k=[[0.5, 0, 0.5], [0, 0.5, 0.5], [0, 0, 1]])  # sub-pixel focal lengths
    assert (tiny.width, tiny.height, tiny.fx, tiny.fy) == (1, 1, 0.5, 0.5)
    assert camera(width=MAX_CAMERA_SIDE, height=MAX_CAMERA_SIDE).width == MAX_CAMERA_SIDE
    turned = Rotation.from_euler("z", 3, degrees=True).as_matrix()
    assert np.linalg.det(turned) < 1.0  # 1 - 2e-16: a rotation as floats hold it
    assert camera(r=turned).r.tolist() == turned.tolist()
    assert camera(r=np.eye(3) * 1.0004).r[0, 0] == 1.0004  # within the 1e-3 a CameraInfo's rounding may leave


def test_from_fov_puts_the_focal_length_where_the_half_angle_says() -> None:
    sixty = PinholeCamera.from_fov(640, 384, np.deg2rad(60.0))
    expected = [[320.0 / np.tan(np.deg2rad(30.0)), 0.0, 320.0], [0.0, 320.0 / np.tan(np.deg2rad(30.0)), 192.0]]
    np.testing.assert_allclose(sixty.k, [*expected, [0.0, 0.0, 1.0]], atol=1e-9)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"k": [[np.inf, 0, 50], [0, 80, 40], [0, 0, 1]]}, r"^camera intrinsics contain NaN or inf$"),
        ({"r": np.diag([1.0, 1.0, -1.0])}, r"^rectification matrix R is not a rotation$"),
        ({"width": 0, "height": 5}, r"^camera size 0x5 is not positive$"),
        (
            {"height": MAX_CAMERA_SIDE + 1},
            rf"^camera size 100x{MAX_CAMERA_SIDE + 1} exceeds {MAX_CAMERA_SIDE} per side$",
        ),
    ],
)
def test_refusals_say_exactly_what_is_wrong(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        camera(**changes)


def test_the_bottom_edge_of_the_image_is_outside() -> None:
    _, inside = camera().project(np.array([[0.0, 0.5, 1.0], [0.0, 0.499, 1.0]]))  # v = 80 and 79.92
    assert inside.tolist() == [False, True]


def test_a_box_exactly_as_wide_as_the_minimum_is_kept() -> None:
    sharp = camera(k=[[128.0, 0, 50], [0, 128.0, 40], [0, 0, 1]])
    rectangle = project_box_to_image(corners(0.0, 0.0625, 0.0, 0.5, 2.0, 2.5), sharp)  # 4 px wide, 32 px high
    assert rectangle == (50.0, 40.0, 54.0, 72.0)
    assert project_box_to_image(corners(0.0, 0.0625, 0.0, 0.5, 2.0, 2.5), sharp, min_size_px=4.5) is None


def test_a_box_starting_on_or_inside_the_near_plane_is_clipped_there() -> None:
    # Its near face at z 0.5 (the near plane itself): x +-0.1 -> u 30..70, y +-0.05 -> v 32..48.
    on_plane = project_box_to_image(corners(-0.1, 0.1, -0.05, 0.05, 0.5, 3.0), camera())
    assert on_plane == pytest.approx((30.0, 32.0, 70.0, 48.0))
    # From z 0.2: the corners in front of the camera but inside the near plane are replaced by the crossings.
    inside_plane = project_box_to_image(corners(-0.1, 0.1, -0.05, 0.05, 0.2, 3.0), camera())
    assert inside_plane == pytest.approx((30.0, 32.0, 70.0, 48.0))


def test_a_box_off_the_left_and_top_edges_is_clipped_to_zero() -> None:
    rectangle = project_box_to_image(corners(-2.0, 0.0, -2.0, 0.0, 2.0, 2.5), camera())
    assert rectangle == (0.0, 0.0, 50.0, 40.0)


def test_integer_and_nested_intrinsics_come_out_as_camera_info_float_arrays() -> None:
    made = PinholeCamera(
        width=100, height=80, k=[[100, 0, 50], [0, 80, 40], [0, 0, 1]], d=[[0, 0, 0, 0, 0]],
        r=[[1, 0, 0], [0, 1, 0], [0, 0, 1]], p=[[100, 0, 50, 0], [0, 80, 40, 0], [0, 0, 1, 0]],
    )  # fmt: skip
    for name, shape in (("k", (3, 3)), ("d", (5,)), ("r", (3, 3)), ("p", (3, 4))):
        value = getattr(made, name)
        assert value.dtype == np.float64 and value.shape == shape, name


@pytest.mark.parametrize("changes", [{"height": 0}, {"k": [[100.0, 0, 50], [0, 0.0, 40], [0, 0, 1]]}])
def test_a_zero_height_or_vertical_focal_length_is_refused(changes: dict) -> None:
    with pytest.raises(ValueError, match=r"not positive|focal lengths"):
        camera(**changes)


def test_a_box_too_low_is_dropped_and_one_exactly_the_minimum_high_is_kept() -> None:
    sharp = camera(k=[[128.0, 0, 50], [0, 128.0, 40], [0, 0, 1]])
    assert project_box_to_image(corners(0.0, 0.5, 0.0, 0.0625, 2.0, 2.5), sharp) == (50.0, 40.0, 82.0, 44.0)
    assert project_box_to_image(corners(0.0, 0.5, 0.0, 0.046875, 2.0, 2.5), sharp) is None  # 3 px high

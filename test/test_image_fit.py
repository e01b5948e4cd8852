"""core/image_fit.py by hand: how camera images of every shape become network inputs, and back."""

from __future__ import annotations

import pytest

from kvision_driving.core.image_fit import InputFit, fit_image, fit_letterbox, fit_pixels

NOMINAL = 384 * 640  # the shipped model's 245,760 pixels


@pytest.mark.parametrize(
    ("height", "width", "scaled", "padded"),
    [
        # KITTI: scale sqrt(245760 / (375 * 1242)) = 0.7264: 272.4 x 902.2 -> multiples of 4: 272 x 904;
        # padded to multiples of 32: 288 x 928.
        (375, 1242, (272, 904), (288, 928)),
        # CamVid: scale 1.1926: 429.3 x 572.4 -> 428 x 572 (107.3 and 143.1 fours); padded 448 x 576.
        (360, 480, (428, 572), (448, 576)),
        # 1080p: scale 0.3443: 371.8 x 661.0 -> 372 x 660 (92.95 and 165.25 fours); padded 384 x 672.
        (1080, 1920, (372, 660), (384, 672)),
        # The nominal size itself: unchanged.
        (384, 640, (384, 640), (384, 640)),
    ],
)
def test_any_camera_keeps_its_aspect_ratio_at_the_models_pixel_count(
    height: int, width: int, scaled: tuple[int, int], padded: tuple[int, int]
) -> None:
    fit = fit_pixels(height, width, NOMINAL)
    assert (fit.height, fit.width) == (height, width)
    assert (fit.scaled_height, fit.scaled_width) == scaled
    assert (fit.input_height, fit.input_width) == padded
    assert fit_image(height, width, "pixels", 384, 640) == fit


def test_a_tiny_image_still_gets_one_output_cell_and_one_stride() -> None:
    # 1 x 1 into 1 pixel: scale 1, 1 rounds to 0 fours, kept at one (4); padded to one stride (32).
    assert fit_pixels(1, 1, 1) == InputFit(1, 1, 4, 4, 32, 32)
    # 2 x 2 into 16 pixels: scale 2, 4 x 4 exactly.
    assert fit_pixels(2, 2, 16) == InputFit(2, 2, 4, 4, 32, 32)
    assert fit_pixels(1, 1, 1).output_region(2, 2) == (1, 1)  # round(2 * 4 / 32) = 0, at least one


def test_the_image_part_of_an_output_at_any_resolution() -> None:
    camvid = fit_pixels(360, 480, NOMINAL)  # 428 x 572 inside 448 x 576
    assert camvid.output_region(112, 144) == (107, 143)  # the quarter-resolution scores
    assert camvid.output_region(448, 576) == (428, 572)  # full resolution
    assert camvid.output_region(56, 72) == (54, 72)  # an eighth: 53.5 rounds to 54, 71.5 to 72


@pytest.mark.parametrize(
    ("height", "width", "scaled"),
    [
        (375, 1242, (192, 640)),  # width limits: 375 * 640 / 1242 = 193.2 -> 192
        (360, 480, (384, 512)),  # height limits: 480 * 384 / 360 = 512
        (100, 300, (212, 640)),  # 100 * 640 / 300 = 213.3 -> 212
        (1, 154, (4, 640)),  # a float scale made the width 639.99... -> 636
        (3, 7, (272, 640)),  # 3 * 640 / 7 = 274.3 -> 272
        (384, 640, (384, 640)),
    ],
)
def test_letterbox_fills_the_limiting_side_exactly(height: int, width: int, scaled: tuple[int, int]) -> None:
    fit = fit_letterbox(height, width, 384, 640)
    assert (fit.scaled_height, fit.scaled_width) == scaled
    assert (fit.input_height, fit.input_width) == (384, 640)
    assert fit_image(height, width, "letterbox", 384, 640) == fit


@pytest.mark.parametrize("shape", [(0, 10), (10, 0), (-1, 5)])
def test_empty_images_and_budgets_are_refused(shape: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="cannot fit"):
        fit_pixels(*shape, NOMINAL)
    with pytest.raises(ValueError, match="cannot fit"):
        fit_letterbox(*shape, 384, 640)
    with pytest.raises(ValueError, match="cannot fit a 10x10 image into 0 pixels"):
        fit_pixels(10, 10, 0)
    with pytest.raises(ValueError, match="unknown input size policy 'stretch'"):
        fit_image(10, 10, "stretch", 384, 640)


def test_a_one_pixel_wide_image_fits() -> None:
    fit = fit_letterbox(5, 1, 384, 640)
    assert (fit.height, fit.width, fit.scaled_height, fit.scaled_width) == (5, 1, 384, 76)  # 1 * 384 / 5 -> 76


@pytest.mark.parametrize(("height", "width"), [(375, 1242), (7, 3), (1, 154), (360, 480), (637, 1001)])
def test_fitted_sizes_are_whole_pixels(height: int, width: int) -> None:
    """Sizes are array shapes and slice ends: integers, whatever the ratios."""
    for fit in (fit_letterbox(height, width, 384, 640), fit_image(height, width, "pixels", 384, 640)):
        assert (fit.height, fit.width) == (height, width)
        sizes = (fit.scaled_height, fit.scaled_width, fit.input_height, fit.input_width)
        assert all(type(size) is int and size % 4 == 0 for size in sizes), fit


def test_an_unknown_policy_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown input size policy 'stretch' \\(pixels, letterbox\\)"):
        fit_image(10, 10, "stretch", 384, 640)

"""Finishing a group photo: ranking by the faces' mean likeness, and the safety check of every picture and painted square."""

from __future__ import annotations

import numpy as np
import pytest

from fact_runtime.config import ModelRef
from fact_runtime.errors import ContentBlocked
from fact_runtime.loading.stack import ModelStack
from fact_runtime.loading.tiny import save_tiny_safety_checker
from fact_runtime.pipelines import group_finishing
from fact_runtime.pipelines.group_finishing import GroupImage, finish_group
from fact_runtime.pipelines.safety import check_images
from tests.test_safety import flag_everything, pass_everything, with_checker
from tests.tiny_stack import decode_png, tiny_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _image(seed: int, shade: int, distances: list[float | None]) -> GroupImage:
    picture = np.full((96, 128, 3), shade, dtype=np.uint8)
    squares = [np.full((64, 64, 3), shade + index, dtype=np.uint8) for index in range(len(distances))]
    return GroupImage(seed, picture, squares, distances)


def _images() -> list[GroupImage]:
    return [_image(1, 10, [0.5, 0.7]), _image(2, 20, [None, 0.1]), _image(3, 30, [0.2, 0.3])]


def test_images_are_ranked_by_their_faces_mean_likeness_unmeasured_last(tmp_path) -> None:
    stack = ModelStack(tiny_config(tmp_path))
    finished = finish_group(stack, _images(), {})
    assert [image.seed for image in finished.images] == [3, 1, 2]
    assert [image.identity_distance for image in finished.images] == [pytest.approx(0.25), pytest.approx(0.6), None]
    assert decode_png(finished.images[0].png).shape == (96, 128, 3)
    unranked = ModelStack(tiny_config(tmp_path, is_ranking_enabled=False))
    assert [image.seed for image in finish_group(unranked, _images(), {}).images] == [1, 2, 3]


def test_the_safety_check_sees_every_picture_and_every_painted_square(tmp_path, monkeypatch) -> None:
    folder = save_tiny_safety_checker(tmp_path / "safety-checker")
    stack = ModelStack(with_checker(tiny_config(tmp_path), ModelRef(path=folder)))
    safety = stack.safety_checker()
    assert safety is not None
    checked: list[list[np.ndarray]] = []

    def recording(checker, processor, images, device, dtype):
        checked.append(images)
        return check_images(checker, processor, images, device, dtype)

    monkeypatch.setattr(group_finishing, "check_images", recording)
    pass_everything(safety.checker)
    assert len(finish_group(stack, _images(), {}).images) == 3
    assert [picture.shape for picture in checked[0]] == [(96, 128, 3), (64, 64, 3), (64, 64, 3)] * 3

    flag_everything(safety.checker)
    with pytest.raises(ContentBlocked):
        finish_group(stack, _images(), {})


def test_an_image_whose_square_alone_is_flagged_is_withheld_with_a_note(tmp_path, monkeypatch) -> None:
    folder = save_tiny_safety_checker(tmp_path / "safety-checker")
    stack = ModelStack(with_checker(tiny_config(tmp_path), ModelRef(path=folder)))
    # The verdicts come in the order checked: each image's picture, then its squares (ranked order 3, 1, 2).
    verdicts = [False, False, True, False, False, False, False, False, False]
    monkeypatch.setattr(group_finishing, "check_images", lambda *args: verdicts)
    finished = finish_group(stack, _images(), {})
    assert [image.seed for image in finished.images] == [1, 2]
    assert finished.notes == ("1 image was withheld by the safety filter.",)

"""Identity jobs on the tiny preset: photos checked, the best one chosen, tokens made once and reused."""

from __future__ import annotations

import io

import numpy as np
import pytest

from fact_runtime.catalog import load_styles
from fact_runtime.errors import IdentityMismatch, InvalidRequest, NoFaceFound, SeveralFaces
from fact_runtime.limits import RequestLimits, check_request
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.request import BaseTokens, IdentityRequest, InpaintRequest, PortraitRequest, SavedFace
from fact_runtime.tokens import DAMAGED_FACE, TOKENS_PER_FACE, decode_tokens, encode_tokens
from tests.identity_photos import blurred, mirrored, one_person
from tests.tiny_stack import decode_png, png_bytes, side_by_side, tiny_config, write_style

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _report(stage: str, step: int = 0, total: int = 0) -> None:
    """A StepReporter that lets every job run."""


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FactEngine:
    config = tiny_config(tmp_path_factory.mktemp("identity"))
    write_style(config.styles_dir, "plain")
    engine = FactEngine(config, load_styles(config.styles_dir))
    engine.warm_up()
    return engine


@pytest.fixture(scope="module")
def photos(astronaut_rgb) -> tuple[bytes, bytes, bytes]:
    return one_person(astronaut_rgb)


@pytest.fixture(scope="module")
def saved(engine, photos) -> SavedFace:
    face = engine.run(IdentityRequest("u1", photos), _report).face
    assert face is not None
    return face


def _tokens(face: SavedFace) -> np.ndarray:
    (tokens,) = face.tokens
    assert tokens.base_id == "tiny"
    return decode_tokens(tokens.npy)


def test_k_photo_tokens_equal_the_concatenation_of_single_photo_tokens(engine, photos, saved) -> None:
    order = [saved.best_index, *(index for index in range(3) if index != saved.best_index)]
    singles = [_tokens(engine.run(IdentityRequest("u1", (photos[index],)), _report).face) for index in order]
    together = _tokens(saved)
    assert together.shape == (2, 3 * TOKENS_PER_FACE, singles[0].shape[2])
    np.testing.assert_allclose(together, np.concatenate(singles, axis=1), rtol=0, atol=1e-5)
    # The null-face half is the same for every photo: the resampler of zeros.
    np.testing.assert_allclose(together[1, :16], together[1, 16:32], rtol=0, atol=1e-6)


def test_the_best_photo_is_the_largest_sharpest_face_and_all_are_one_person(
    engine, astronaut_rgb, photos, saved
) -> None:
    assert saved.best_index == 2  # the zoomed photo
    assert saved.distances[2] == 0.0 and all(0 < d < 0.6 for d in saved.distances[:2])
    # The saved face is in the best photo's own pixels: the zoomed face is far larger than the original's.
    x0, _, x1, _ = saved.analysis.box
    assert x1 - x0 > 120 and len(saved.analysis.embedding) == 128
    out_of_focus = engine.run(IdentityRequest("u1", (png_bytes(blurred(astronaut_rgb)), photos[0])), _report)
    assert out_of_focus.face is not None and out_of_focus.face.best_index == 1


def test_a_different_person_is_refused_naming_the_photo(engine, photos, grace_hopper_jpeg) -> None:
    with pytest.raises(IdentityMismatch) as three:
        engine.run(IdentityRequest("u1", (photos[0], photos[1], grace_hopper_jpeg)), _report)
    assert three.value.user_message.startswith("Photo 3 does not look like the same person as the other photos")
    with pytest.raises(IdentityMismatch) as two:
        engine.run(IdentityRequest("u1", (grace_hopper_jpeg, photos[2])), _report)
    assert two.value.user_message.startswith("Photo 2 does not look like the same person as photo 1")


def test_each_photo_is_checked_like_a_selfie_and_named(engine, astronaut_rgb, photos) -> None:
    from skimage import data

    with pytest.raises(NoFaceFound) as faceless:
        engine.run(IdentityRequest("u1", (photos[0], png_bytes(data.coffee()))), _report)
    assert faceless.value.user_message == f"Photo 2: {NoFaceFound.user_message}"
    group = png_bytes(side_by_side(astronaut_rgb, mirrored(astronaut_rgb)))  # two faces of one size
    with pytest.raises(SeveralFaces) as several:
        engine.run(IdentityRequest("u1", (group,)), _report)
    assert several.value.user_message == SeveralFaces.user_message  # one photo: nothing to number
    with pytest.raises(InvalidRequest) as too_many:
        engine.run(IdentityRequest("u1", (photos[0],) * 5), _report)
    assert too_many.value.user_message == "An identity takes 1 to 4 photos."


def _portrait(photos: tuple[bytes, ...], saved: SavedFace, **fields) -> PortraitRequest:
    order = [saved.best_index, *(index for index in range(len(photos)) if index != saved.best_index)]
    selfie, *others = (photos[index] for index in order)
    values = {
        "user_id": "u1",
        "style_id": "plain",
        "seed": 5,
        "count": 2,
        "selfie": selfie,
        "references": tuple(others),
    }
    return PortraitRequest(**{**values, **fields})


def test_a_portrait_from_a_saved_face_skips_analysis_and_encoding(engine, photos, saved, monkeypatch) -> None:
    import fact_runtime.pipelines.stages as stages_module

    from_photos = engine.run(_portrait(photos, saved), _report)
    encoder = engine.stack.base("tiny").encoder
    calls: list[str] = []
    original_encode, original_find = encoder.encode, stages_module.find_selfie_face
    monkeypatch.setattr(encoder, "encode", lambda faces: calls.append("encode") or original_encode(faces))
    monkeypatch.setattr(
        stages_module, "find_selfie_face", lambda *a, **k: calls.append("detect") or original_find(*a, **k)
    )
    engine.selfies.forget("u1")  # nothing cached: a saved face must not need the cache either
    from_saved = engine.run(_portrait(photos, saved, face=saved), _report)
    assert calls == []
    for left, right in zip(from_photos.images, from_saved.images, strict=True):
        assert left.seed == right.seed
        difference = np.abs(decode_png(left.png).astype(int) - decode_png(right.png).astype(int))
        assert difference.max() <= 2  # the same tokens, up to float rounding between a batch and singles


def test_a_saved_face_without_this_bases_tokens_is_encoded_from_its_photos(engine, photos, saved) -> None:
    elsewhere = SavedFace(saved.analysis, (BaseTokens("majicmix", saved.tokens[0].npy),), saved.best_index)
    result = engine.run(_portrait(photos, saved, face=elsewhere, count=1), _report)
    reference = engine.run(_portrait(photos, saved, count=1), _report)
    assert np.array_equal(decode_png(result.images[0].png), decode_png(reference.images[0].png))


def test_an_inpaint_takes_a_saved_face(engine, photos, saved, grace_hopper_jpeg) -> None:
    request = InpaintRequest(
        user_id="u1",
        selfie=photos[saved.best_index],
        template=grace_hopper_jpeg,
        seed=3,
        face=saved,
        references=tuple(photo for index, photo in enumerate(photos) if index != saved.best_index),
    )
    (image,) = engine.run(request, _report).images
    assert decode_png(image.png).shape[:2] == (600, 512)  # pasted back into the whole template


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "npy",
    [
        b"not an array",
        encode_tokens(np.zeros((16, 8)), np.zeros((16, 8))),  # one photo's tokens for three photos
        _npy(np.zeros((2, 48, 8), dtype=np.float64)),
        _npy(np.array([{"a": 1}], dtype=object)),  # a pickle: never loaded
        encode_tokens(np.full((48, 8), np.nan), np.zeros((48, 8))),
    ],
    ids=["garbage", "photo-count", "dtype", "pickle", "nan"],
)
def test_damaged_saved_tokens_are_refused_before_queueing(saved, photos, npy: bytes) -> None:
    damaged = SavedFace(saved.analysis, (BaseTokens("tiny", npy),), saved.best_index)
    with pytest.raises(InvalidRequest) as refused:
        check_request(_portrait(photos, saved, face=damaged), RequestLimits())
    assert refused.value.user_message == DAMAGED_FACE


def test_a_saved_face_of_the_wrong_width_or_shape_is_refused(engine, photos, saved) -> None:
    wide = SavedFace(saved.analysis, (BaseTokens("tiny", encode_tokens(np.zeros((48, 9)), np.zeros((48, 9)))),))
    with pytest.raises(InvalidRequest) as refused:
        engine.run(_portrait(photos, saved, face=wide), _report)
    assert refused.value.user_message == DAMAGED_FACE
    short = SavedFace(saved.analysis.__class__(saved.analysis.box, (1.0,) * 10, saved.analysis.embedding), saved.tokens)
    with pytest.raises(InvalidRequest):
        check_request(_portrait(photos, saved, face=short), RequestLimits())


def test_the_photos_are_checked_before_any_model_loads(tmp_path, photos, grace_hopper_jpeg) -> None:
    config = tiny_config(tmp_path)
    write_style(config.styles_dir, "plain")
    cold = FactEngine(config, load_styles(config.styles_dir))
    cold.check_inputs(IdentityRequest("u1", photos))
    with pytest.raises(IdentityMismatch) as mismatch:
        cold.check_inputs(IdentityRequest("u1", (photos[0], grace_hopper_jpeg)))
    assert mismatch.value.user_message.startswith("Photo 2 does not look like the same person as photo 1")
    assert not cold.stack.is_loaded

"""Provenance marks on real photos and on tiny-preset portraits: watermark, XMP, C2PA, and `verify`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import c2pa
import cv2
import numpy as np
import pytest
from imwatermark import WatermarkDecoder
from PIL import Image

from fact_runtime.catalog import load_styles
from fact_runtime.errors import ConfigError
from fact_runtime.pipelines.engine import FactEngine
from fact_runtime.provenance import (
    DIGITAL_SOURCE_TYPE,
    KEY_ENV,
    Provenance,
    ProvenanceConfig,
    load_credentials,
    read_manifest,
    read_source_type,
)
from fact_runtime.provenance.verify import WATERMARK_THRESHOLD
from fact_runtime.provenance.watermark import WATERMARK_BITS
from fact_runtime.request import PortraitRequest
from tests.tiny_stack import tiny_config, write_style

ROOT = Path(__file__).resolve().parents[1]


def _decoded_bits(data: bytes) -> list[int]:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # as the package's own examples read
    return [int(bool(bit)) for bit in WatermarkDecoder("bits", 48).decode(bgr, "dwtDct")]


def _c2pa_report(data: bytes, mime: str) -> tuple[str, dict]:
    with c2pa.Reader(mime, io.BytesIO(data)) as reader:
        return reader.get_validation_state(), json.loads(reader.json())


@pytest.fixture(scope="module")
def portraits(tmp_path_factory) -> list[bytes]:
    """Two 256 px portraits from the tiny engine, as the runtime hands them to the bot."""
    root = tmp_path_factory.mktemp("provenance")
    config = tiny_config(root, width=256, height=256, num_inference_steps=2)
    write_style(config.styles_dir, "plain")
    engine = FactEngine(config, load_styles(config.styles_dir))
    engine.warm_up()
    selfie = (ROOT / "templates" / "astronaut.jpg").read_bytes()
    request = PortraitRequest(user_id="u1", style_id="plain", seed=5, count=2, selfie=selfie)
    return [image.png for image in engine.run(request, lambda *args: None).images]


def test_a_portrait_carries_the_sdxl_watermark_read_by_the_packages_own_decoder(portraits) -> None:
    # dwtDct reads back a bit or two wrong on some pictures (it is a blind transform-domain mark);
    # detectors, ours included, count matching bits against a threshold far above chance (~24).
    for png in portraits:
        matched = sum(a == b for a, b in zip(_decoded_bits(png), WATERMARK_BITS, strict=True))
        assert matched >= WATERMARK_THRESHOLD


def test_a_portrait_has_xmp_and_a_valid_c2pa_manifest_saying_a_trained_model_made_it(portraits) -> None:
    png = portraits[0]
    assert read_source_type(png) == DIGITAL_SOURCE_TYPE
    xmp = Image.open(io.BytesIO(png)).info["xmp"]
    assert b"FACT portrait bot" in (xmp if isinstance(xmp, bytes) else xmp.encode())
    state, report = _c2pa_report(png, "image/png")
    assert state == "Valid"  # signature and hash check out; a self-signed signer is on no trust list
    manifest = report["manifests"][report["active_manifest"]]
    assert manifest["claim_generator_info"][0]["name"] == "FACT portrait bot"
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0] == {"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE}


def test_a_tampered_image_fails_the_c2pa_check(portraits) -> None:
    data = bytearray(portraits[0])
    data[data.rindex(b"IDAT") + 20] ^= 0xFF  # one byte of the pixel data changed after signing
    check = read_manifest(bytes(data))
    assert check.is_present and not check.is_valid


def test_the_self_signed_credentials_are_private_and_reused(tmp_path) -> None:
    config = ProvenanceConfig(credentials_dir=tmp_path / "creds")
    first = load_credentials(config)
    path = tmp_path / "creds" / "c2pa-self-signed.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_credentials(config) == first and first.is_self_signed and first.algorithm == "es256"


def test_operator_credentials_sign_with_the_key_from_the_environment(tmp_path, monkeypatch) -> None:
    own = load_credentials(ProvenanceConfig(credentials_dir=tmp_path / "own"))
    (tmp_path / "chain.pem").write_bytes(own.chain_pem)
    monkeypatch.setenv(KEY_ENV, own.key_pem.decode())
    config = ProvenanceConfig(certificate=tmp_path / "chain.pem")
    marked = Provenance(config, load_credentials(config)).mark(_jpeg(256))
    ca = own.chain_pem[own.chain_pem.index(b"-----END CERTIFICATE-----") + 26 :]
    check = read_manifest(marked, trust_anchors_pem=ca)
    assert check.is_valid and check.is_trusted


def test_a_key_that_is_not_the_certificates_is_refused_in_one_sentence(tmp_path, monkeypatch) -> None:
    one = load_credentials(ProvenanceConfig(credentials_dir=tmp_path / "one"))
    other = load_credentials(ProvenanceConfig(credentials_dir=tmp_path / "other"))
    (tmp_path / "chain.pem").write_bytes(one.chain_pem)
    monkeypatch.setenv(KEY_ENV, other.key_pem.decode())
    with pytest.raises(ConfigError, match="does not belong to the first certificate"):
        load_credentials(ProvenanceConfig(certificate=tmp_path / "chain.pem"))


def _jpeg(side: int) -> bytes:
    rgb = cv2.resize(cv2.imread(str(ROOT / "templates" / "astronaut.jpg"))[..., ::-1], (side, side))
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["JPEG", "WEBP", "PNG"])
def test_bytes_encoded_elsewhere_get_xmp_and_a_new_signature(tmp_path, kind) -> None:
    marker = Provenance.from_config(ProvenanceConfig(credentials_dir=tmp_path / "creds"))
    buffer = io.BytesIO()
    Image.open(io.BytesIO(_jpeg(300))).save(buffer, kind)
    marked = marker.mark(buffer.getvalue())
    assert read_source_type(marked) == DIGITAL_SOURCE_TYPE
    state, report = _c2pa_report(marked, f"image/{kind.lower()}")
    assert state == "Valid"
    actions = report["manifests"][report["active_manifest"]]["assertions"][0]["data"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.transcoded"]


def test_each_mark_can_be_switched_off(tmp_path) -> None:
    config = ProvenanceConfig(
        is_watermark_enabled=False, is_metadata_enabled=False, is_c2pa_enabled=False, credentials_dir=tmp_path
    )
    rgb = np.asarray(Image.open(io.BytesIO(_jpeg(256))).convert("RGB"))
    png = Provenance.from_config(config).encode_png(rgb)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), rgb)
    assert read_source_type(png) is None and not read_manifest(png).is_present
    assert not any(tmp_path.iterdir())  # no credentials made when nothing is signed


def _verify(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fact_runtime", "verify", *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_verify_accepts_a_marked_portrait_and_names_each_mark_an_unmarked_image_lacks(portraits, tmp_path) -> None:
    marked, unmarked = tmp_path / "marked.png", tmp_path / "photo.jpg"
    marked.write_bytes(portraits[0])
    unmarked.write_bytes(_jpeg(256))
    done = _verify(marked)
    assert done.returncode == 0, done.stderr
    assert "C2PA valid, signed by FACT portrait bot" in done.stdout
    done = _verify(marked, unmarked)
    assert done.returncode == 1
    problems = done.stderr.strip().splitlines()
    assert [line.split(": ", 1)[1].split(" (")[0] for line in problems] == [
        "no invisible watermark",
        "no XMP saying it is AI-generated",
        "no C2PA manifest",
    ]
    assert all(line.startswith(str(unmarked)) for line in problems)


def test_an_upload_re_encoded_to_fit_discords_limit_is_marked_and_signed_again(portraits, tmp_path) -> None:
    from bot.jobs.files import fit_images

    marker = Provenance.from_config(ProvenanceConfig(credentials_dir=tmp_path / "creds"))
    limit = len(portraits[0]) // 3
    fitted = fit_images(portraits, limit, name="portrait-ab", mark=marker.mark)
    assert [item.filename for item in fitted] == ["portrait-ab-1.jpg", "portrait-ab-2.jpg"]
    for item in fitted:
        assert len(item.data) <= limit
        assert read_source_type(item.data) == DIGITAL_SOURCE_TYPE
        state, report = _c2pa_report(item.data, "image/jpeg")
        assert state == "Valid"
        actions = report["manifests"][report["active_manifest"]]["assertions"][0]["data"]["actions"]
        assert actions[-1]["action"] == "c2pa.transcoded"


def test_a_missing_watermark_package_or_key_is_one_sentence_at_start(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "imwatermark", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"pip install --no-deps invisible-watermark==0\.2\.0"):
        Provenance.from_config(ProvenanceConfig(credentials_dir=tmp_path / "a"))
    (tmp_path / "chain.pem").write_bytes(load_credentials(ProvenanceConfig(credentials_dir=tmp_path / "b")).chain_pem)
    with pytest.raises(ConfigError, match=f"set runtime.provenance.private_key or {KEY_ENV}"):
        load_credentials(ProvenanceConfig(certificate=tmp_path / "chain.pem"))


def test_verify_refuses_a_file_that_is_not_an_image(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("not a picture")
    done = _verify(tmp_path / "notes.txt")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"{tmp_path / 'notes.txt'}: not a readable image")

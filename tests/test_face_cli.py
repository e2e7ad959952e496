"""``python -m fact_runtime faces``: JSON for a usable photo, the refusal sentence and exit 2 otherwise."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from skimage import data

from fact_runtime.__main__ import main
from fact_runtime.errors import NoFaceFound, UnsupportedImage


def test_faces_prints_json_for_a_selfie(tmp_path, astronaut_png, capsys):
    path = tmp_path / "astronaut.png"
    path.write_bytes(astronaut_png)
    assert main(["faces", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["image"] == {"format": "PNG", "width": 512, "height": 512, "analysis_scale": 1.0}
    (face,) = report["faces"]
    left_eye, right_eye = face["landmarks"][:2]
    assert 195 <= left_eye[0] <= 212 and 237 <= right_eye[0] <= 255
    assert face["box"][0] < left_eye[0] < face["box"][2]
    assert "selfie: chosen (largest face)" in face["notes"]


def test_faces_numbers_template_faces_from_the_left(tmp_path, astronaut_rgb, grace_hopper_rgb, capsys):
    canvas = np.zeros((600, 1024, 3), dtype=np.uint8)
    canvas[:512, :512] = astronaut_rgb
    canvas[:, 512:] = grace_hopper_rgb
    path = tmp_path / "pair.jpg"
    Image.fromarray(canvas).save(path, quality=92)
    assert main(["faces", str(path), "--template"]) == 0
    faces = json.loads(capsys.readouterr().out)["faces"]
    assert [face["notes"][0] for face in faces] == ["face 1 of 2 from the left", "face 2 of 2 from the left"]
    assert faces[0]["box"][2] <= 512 <= faces[1]["box"][0]


def test_faces_refuses_with_the_user_sentence_and_exit_2(tmp_path, capsys):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    assert main(["faces", str(text)]) == 2
    assert capsys.readouterr().err.strip() == UnsupportedImage.user_message

    coffee = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(coffee)
    assert main(["faces", str(coffee)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == NoFaceFound.user_message

"""amiwm.frames.fit_frames: the one camera -> model frame policy."""

import numpy as np
import pytest
import torch

from amiwm.errors import AmiError
from amiwm.frames import fit_frames


def test_same_size_rgb_is_unchanged():
    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    assert np.array_equal(fit_frames(x, (8, 8)), x)


def test_grayscale_and_rgba_become_rgb():
    gray = np.full((4, 6), 77, np.uint8)
    out = fit_frames(gray, (4, 6))
    assert out.shape == (4, 6, 3) and (out == 77).all()
    rgba = np.zeros((2, 4, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 9
    out = fit_frames(rgba, (4, 6))
    assert out.shape == (2, 4, 6, 3) and (out[..., 0] == 200).all() and (out[..., 1:] == 0).all()


def test_crop_keeps_the_centre_pad_adds_black_stretch_keeps_everything():
    # a 4 x 12 frame: left third 0, middle third 120, right third 240
    x = np.zeros((4, 12, 3), np.uint8)
    x[:, 4:8], x[:, 8:] = 120, 240
    crop = fit_frames(x, (4, 4), "crop")
    assert (crop == 120).all()  # only the centred 4 x 4 square survives
    pad = fit_frames(x, (12, 12), "pad")
    assert pad.shape == (12, 12, 3)
    assert (pad[:4] == 0).all() and (pad[-4:] == 0).all()  # black bars above and below
    assert (pad[4:8, 5:7] == 120).all()
    stretch = fit_frames(x, (4, 3), "stretch")
    assert stretch[0, 0, 0] < 40 and abs(int(stretch[0, 1, 0]) - 120) < 40
    assert stretch[0, 2, 0] > 200


def test_torch_and_numpy_agree_and_batches_do_not_matter():
    x = np.random.default_rng(1).integers(0, 256, (5, 48, 64, 3), dtype=np.uint8)
    a = fit_frames(x, (16, 16), "crop")
    b = fit_frames(torch.from_numpy(x), (16, 16), "crop").numpy()
    c = np.stack([fit_frames(f, (16, 16), "crop") for f in x])
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_bad_policy_and_nan():
    with pytest.raises(AmiError, match="--resize"):
        fit_frames(np.zeros((4, 4, 3), np.uint8), (2, 2), "zoom")
    with pytest.raises(AmiError, match="NaN"):
        fit_frames(np.full((4, 4, 3), np.nan), (2, 2))


def test_read_image_gives_the_channels_the_model_wants(tmp_path):
    from PIL import Image

    from amiwm.frames import read_image

    rgba = np.zeros((8, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png", 3).shape == (8, 6, 3)
    gray = read_image(tmp_path / "a.png", 1)
    assert gray.shape == (8, 6, 1) and gray.dtype == np.uint8 and 0 < gray[0, 0, 0] < 200
    (tmp_path / "b.png").write_bytes(b"not an image")
    with pytest.raises(AmiError, match="cannot read image"):
        read_image(tmp_path / "b.png")

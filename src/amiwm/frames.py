"""Camera frames to model frames: the one resize policy shared by importers and the model.

``fit_frames`` turns frames as a camera delivers them (uint8 (..., H, W), (..., H, W, 1),
(..., H, W, 3) or (..., H, W, 4), any H and W) into RGB frames of the model's size:

- grayscale is repeated to three channels; RGBA drops its alpha channel;
- ``crop``: the largest centred region of the target aspect ratio, then resized;
- ``pad``: the frame centred on a black canvas of the target aspect ratio, then resized;
- ``stretch``: resized to the target size, aspect ratio not kept.

Resizing is torch's antialiased bilinear interpolation on uint8 frames, always computed on the
CPU so that importer and model (on any device) produce the same bytes.
Frames that already have the target size and three channels are returned unchanged.
This module imports only numpy and torch: every layer may use it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from amiwm.errors import AmiError

RESIZE_POLICIES = ("crop", "pad", "stretch")


def check_policy(resize: str) -> str:
    """``resize`` if it is a known policy, else an AmiError."""
    if resize not in RESIZE_POLICIES:
        raise AmiError(f"unknown --resize {resize!r}; use one of {', '.join(RESIZE_POLICIES)}")
    return resize


def frame_hw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(H, W, C) of one frame of ``shape`` ((H, W) is grayscale, C = 1)."""
    if len(shape) == 2:
        return int(shape[0]), int(shape[1]), 1
    if len(shape) == 3 and shape[-1] in (1, 3, 4):
        return int(shape[0]), int(shape[1]), int(shape[2])
    raise AmiError(
        f"frames of shape {tuple(shape)}: expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
    )


def _region(h: int, w: int, th: int, tw: int, resize: str) -> tuple[int, int, int, int]:
    """Crop box (top, left, height, width) or pad canvas for the policy."""
    if resize == "crop":
        if h * tw > w * th:  # too tall: keep full width
            ch, cw = max(1, round(w * th / tw)), w
        else:
            ch, cw = h, max(1, round(h * tw / th))
        return (h - ch) // 2, (w - cw) // 2, ch, cw
    if resize == "pad":
        if h * tw > w * th:  # too tall: widen the canvas
            ph, pw = h, max(w, round(h * tw / th))
        else:
            ph, pw = max(h, round(w * th / tw)), w
        return (ph - h) // 2, (pw - w) // 2, ph, pw
    return 0, 0, h, w


def fit_frames(
    frames: np.ndarray | torch.Tensor, size: tuple[int, int], resize: str = "crop"
) -> np.ndarray | torch.Tensor:
    """Frames (..., H, W[, C]) uint8 -> (..., size[0], size[1], 3) uint8, same array type.

    A grayscale frame must be given as (..., H, W, 1) when it is batched; a 2-D or 3-D input
    whose last axis is not 1, 3 or 4 is read as (..., H, W) grayscale.
    """
    check_policy(resize)
    as_numpy = isinstance(frames, np.ndarray)
    x = torch.from_numpy(np.ascontiguousarray(frames)) if as_numpy else frames
    if x.dtype != torch.uint8:
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise AmiError("frames contain NaN or Inf")
        x = x.round().clamp(0, 255).to(torch.uint8)
    if x.ndim == 2 or (x.ndim >= 3 and x.shape[-1] not in (1, 3, 4)):
        x = x.unsqueeze(-1)
    if x.ndim < 3:
        raise AmiError(f"frames of shape {tuple(x.shape)}: expected (..., H, W, C)")
    h, w, c = (int(d) for d in x.shape[-3:])
    th, tw = int(size[0]), int(size[1])
    if c == 1:
        x = x.expand(*x.shape[:-1], 3)
    elif c == 4:
        x = x[..., :3]
    if (h, w) == (th, tw):
        out = x.contiguous()
        return out.numpy() if as_numpy else out
    lead, device = x.shape[:-3], x.device
    x = x.reshape(-1, h, w, 3).cpu()  # one computation on every device: identical results
    top, left, rh, rw = _region(h, w, th, tw, resize)
    if resize == "crop":
        x = x[:, top : top + rh, left : left + rw]
    y = x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    if resize == "pad" and (rh, rw) != (h, w):
        y = F.pad(y, (left, rw - w - left, top, rh - h - top))
        y = y.contiguous(memory_format=torch.channels_last)
    if y.shape[0]:  # torch's uint8 antialiased bilinear kernel (fast, rounds to nearest)
        y = F.interpolate(y, size=(th, tw), mode="bilinear", antialias=True, align_corners=False)
    else:
        y = y.new_zeros((0, 3, th, tw))
    out = y.permute(0, 2, 3, 1).contiguous().reshape(*lead, th, tw, 3).to(device)
    return out.numpy() if as_numpy else out


def read_image(path: str | Path, channels: int = 3) -> np.ndarray:
    """An image file (PNG, JPEG, ...) as uint8 (H, W, channels): 1 grayscale, 3 RGB (alpha
    dropped); one-line AmiError when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    if channels not in (1, 3):
        raise AmiError(f"images have 1 or 3 channels here, the model wants {channels}")
    try:
        with Image.open(path) as img:
            x = np.array(img.convert("L" if channels == 1 else "RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise AmiError(f"cannot read image {path}: {exc}") from None
    return x[..., None] if channels == 1 else x

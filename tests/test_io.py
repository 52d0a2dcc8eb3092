"""Image/kernel I/O: round trips, EXIF, alpha, bad files, atomic writes, YCbCr."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch

from deblurkit.color import rgb_to_luma, rgb_to_ycbcr, ycbcr_to_rgb
from deblurkit.errors import DeblurkitError, DeblurkitWarning
from deblurkit.io import (
    image_to_tensor,
    read_image,
    read_kernel,
    read_kernel_set,
    tensor_to_image,
    write_image,
    write_kernel,
    write_kernel_set,
)


def _raw(rng, shape, bits):
    top = 255 if bits == 8 else 65535
    return rng.integers(0, top + 1, size=shape).astype(np.uint8 if bits == 8 else np.uint16)


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp"])
@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_lossless_round_trip(tmp_path, rng, ext, bits, channels):
    if bits == 16 and ext == ".bmp":
        pytest.skip("BMP has no 16-bit mode")
    raw = _raw(rng, (9, 7) if channels == 1 else (9, 7, 3), bits)
    src = tmp_path / f"src{ext}"
    cv2.imwrite(str(src), raw if channels == 1 else raw[:, :, ::-1])
    img, info = read_image(src)
    assert img.dtype == np.float32 and img.shape == (9, 7, channels)
    assert info.bit_depth == bits and 0.0 <= img.min() and img.max() <= 1.0
    expected = raw.reshape(9, 7, channels).astype(np.float64) / (2**bits - 1)
    np.testing.assert_allclose(img, expected, atol=1e-6)
    out = tmp_path / f"out{ext}"
    write_image(out, img, bit_depth=info.bit_depth, protect=[src])
    again, info2 = read_image(out)
    assert info2.bit_depth == bits
    np.testing.assert_array_equal(again, img)


def test_rgba_drops_alpha_with_warning(tmp_path, rng):
    raw = _raw(rng, (6, 5, 4), 8)
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), raw)  # BGRA
    with pytest.warns(DeblurkitWarning, match="alpha"):
        img, info = read_image(src)
    assert img.shape == (6, 5, 3) and info.had_alpha and info.channels == 4
    np.testing.assert_allclose(img, raw[:, :, 2::-1] / 255.0, atol=1e-6)


def test_gray_alpha_and_16bit_rgba(tmp_path, rng):
    from PIL import Image

    la = np.stack([_raw(rng, (5, 4), 8), np.full((5, 4), 128, np.uint8)], axis=2)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    with pytest.warns(DeblurkitWarning):
        img, _ = read_image(tmp_path / "la.png")
    assert img.shape == (5, 4, 1)
    np.testing.assert_allclose(img[:, :, 0], la[:, :, 0] / 255.0, atol=1e-6)
    raw16 = _raw(rng, (4, 4, 4), 16)
    cv2.imwrite(str(tmp_path / "rgba16.png"), raw16)
    with pytest.warns(DeblurkitWarning):
        img, info = read_image(tmp_path / "rgba16.png")
    assert img.shape == (4, 4, 3) and info.bit_depth == 16


def test_jpeg_reads_and_exif_orientation_is_honoured(tmp_path):
    from PIL import Image

    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # white left half, landscape
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    im.save(tmp_path / "o.jpg", exif=exif, quality=100)
    img, info = read_image(tmp_path / "o.jpg")
    assert info.orientation == 6
    assert img.shape == (40, 20, 3)  # portrait after orientation
    assert img[:20].mean() > 0.9 and img[20:].mean() < 0.1  # left half went to the top


def test_write_refuses_input_and_leaves_no_temp(tmp_path, rng):
    src = tmp_path / "x.png"
    cv2.imwrite(str(src), _raw(rng, (4, 4), 8))
    before = src.read_bytes()
    with pytest.raises(DeblurkitError, match="overwrite the input"):
        write_image(src, np.zeros((4, 4, 1), np.float32), protect=[src])
    assert src.read_bytes() == before
    write_image(tmp_path / "sub" / "y.png", np.zeros((4, 4, 1), np.float32))
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["y.png"]


@pytest.mark.parametrize("content", [b"", b"this is not an image", b"\x89PNG\r\n\x1a\n\x00\x00garbage"])
def test_bad_files_raise_one_line_errors(tmp_path, content):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(DeblurkitError) as e:
        read_image(p)
    assert "\n" not in str(e.value) and str(p) in str(e.value)
    with pytest.raises(DeblurkitError):
        read_image(tmp_path / "missing.png")
    with pytest.raises(DeblurkitError):
        read_image(tmp_path)


def test_kernel_png_any_depth_and_colour(tmp_path):
    k = np.zeros((5, 7))
    k[2, 1:6] = [1, 2, 3, 2, 1]
    cv2.imwrite(str(tmp_path / "k8.png"), (k / k.max() * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "k16.png"), (k / k.max() * 65535).astype(np.uint16))
    cv2.imwrite(str(tmp_path / "kc.png"), np.repeat((k / k.max() * 255).astype(np.uint8)[:, :, None], 3, axis=2))
    for name in ("k8.png", "k16.png", "kc.png"):
        r = read_kernel(tmp_path / name)
        assert r.shape == (5, 7) and r.dtype == np.float32
        np.testing.assert_allclose(r, k / k.sum(), atol=2e-3)
        assert abs(r.sum() - 1) < 1e-6


def test_kernel_npy_npz_exact_and_png_for_viewing(tmp_path, rng):
    k = rng.random((9, 9)).astype(np.float32)
    k /= k.sum()
    write_kernel(tmp_path / "k.npy", k)
    np.testing.assert_array_equal(np.load(tmp_path / "k.npy"), k)
    np.testing.assert_allclose(read_kernel(tmp_path / "k.npy"), k, rtol=1e-6)
    write_kernel(tmp_path / "k.png", k)
    np.testing.assert_allclose(read_kernel(tmp_path / "k.png"), k, atol=1e-4)
    np.savez(tmp_path / "one.npz", kernel=k)
    np.testing.assert_allclose(read_kernel(tmp_path / "one.npz"), k, rtol=1e-6)
    stack = rng.random((3, 9, 9)).astype(np.float32)
    write_kernel_set(tmp_path / "set.npz", stack, {"config": {"a": 1}, "length": np.arange(3.0)})
    ks, cfg = read_kernel_set(tmp_path / "set.npz")
    assert ks.shape == (3, 9, 9) and cfg == {"a": 1}
    np.testing.assert_allclose(read_kernel(tmp_path / "set.npz", index=2), stack[2] / stack[2].sum(), rtol=1e-5)
    with pytest.raises(DeblurkitError, match="index"):
        read_kernel(tmp_path / "set.npz")
    with pytest.raises(DeblurkitError, match="out of range"):
        read_kernel(tmp_path / "set.npz", index=5)


def test_bad_kernels(tmp_path):
    np.save(tmp_path / "zero.npy", np.zeros((3, 3)))
    np.save(tmp_path / "nan.npy", np.full((3, 3), np.nan))
    (tmp_path / "junk.npy").write_bytes(b"junk")
    for name in ("zero.npy", "nan.npy", "junk.npy", "missing.npy", "missing.png"):
        with pytest.raises(DeblurkitError):
            read_kernel(tmp_path / name)


def test_tensor_layout_round_trip(rng):
    img = rng.random((5, 6, 3)).astype(np.float32)
    t = image_to_tensor(img)
    assert t.shape == (1, 3, 5, 6)
    np.testing.assert_array_equal(tensor_to_image(t), img)


def test_ycbcr_matches_matlab_rgb2ycbcr():
    # MATLAB: rgb2ycbcr([1 0 0]) = [0.2567 0.3537 0.9412]·... ; values below are MATLAB's (×255).
    cases = {
        (1.0, 0.0, 0.0): (81.481, 90.203, 240.0),
        (0.0, 1.0, 0.0): (144.553, 53.797, 34.214),
        (0.0, 0.0, 1.0): (40.966, 240.0, 109.786),
        (1.0, 1.0, 1.0): (235.0, 128.0, 128.0),
        (0.0, 0.0, 0.0): (16.0, 128.0, 128.0),
    }
    for rgb, ycc in cases.items():
        np.testing.assert_allclose(rgb_to_ycbcr(np.array([[rgb]])) * 255, [[ycc]], atol=1e-9)
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x)
    assert rgb_to_luma(x).shape == (2, 1, 4, 5)
    arr = np.random.default_rng(0).random((4, 5, 3))
    np.testing.assert_allclose(rgb_to_ycbcr(torch.from_numpy(arr).permute(2, 0, 1)).permute(1, 2, 0).numpy(), rgb_to_ycbcr(arr))


def test_no_warning_for_plain_images(tmp_path, rng):
    cv2.imwrite(str(tmp_path / "g.png"), _raw(rng, (4, 4), 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_image(tmp_path / "g.png")


def test_atomic_write_uses_umask_permissions(tmp_path):
    import os

    from deblurkit.io import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f.bin", b"abc")
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o644

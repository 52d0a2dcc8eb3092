"""The command line: help for every command, shared conventions, `blur`, error handling."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from deblurkit import __version__
from deblurkit.cli import PLANNED
from deblurkit.io import read_image, read_kernel

COMMANDS = ["synth-kernels", "blur", "synth-set", "example", "demo", "train-kernel-gan", "kernel-prior-report", "train-initializer", "deblur", "deblur-nonuniform", "eval", "bench"]


def test_top_level_help_lists_every_command(cli):
    r = cli("--help")
    assert r.code == 0
    for name in COMMANDS:
        assert name in r.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(cli, name):
    r = cli(name, "--help")
    assert r.code == 0 and "Usage" in r.output


@pytest.mark.parametrize("name", sorted(PLANNED))
def test_planned_commands_say_so_and_exit_2(cli, name):
    r = cli(name, "some.png", "--prior", "dip")
    assert r.code == 2
    assert r.output.strip() == f"deblurkit {name}: not built yet ({PLANNED[name][0]})"


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and __version__ in r.output


@pytest.fixture
def sharp(tmp_path):
    img = (np.random.default_rng(0).random((40, 48)) * 65535).astype(np.uint16)
    p = tmp_path / "sharp.png"
    cv2.imwrite(str(p), img)
    return p


def test_blur_random_kernel_saves_kernel_and_keeps_bit_depth(cli, sharp, tmp_path):
    out = tmp_path / "out" / "blurry.png"
    r = cli("blur", sharp, "--random-kernel", "--size", "9", "--noise", "0.01", "--seed", "3", "-o", out, "-q")
    assert r.code == 0, r.output
    y, info = read_image(out)
    assert info.bit_depth == 16 and y.shape == (40, 48, 1)
    k_png, k_npy = read_kernel(out.with_name("blurry_kernel.png")), np.load(out.with_name("blurry_kernel.npy"))
    assert k_npy.shape == (9, 9) and abs(k_npy.sum() - 1) < 1e-5
    np.testing.assert_allclose(k_png, k_npy, atol=1e-3)
    x, _ = read_image(sharp)
    assert np.abs(np.diff(y[:, :, 0], axis=1)).mean() < np.abs(np.diff(x[:, :, 0], axis=1)).mean()


def test_blur_is_deterministic_under_seed_and_skips_done_work(cli, sharp, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert cli("blur", sharp, "--random-kernel", "--size", "7", "--noise", "0.02", "--seed", "1", "-o", a, "-q").code == 0
    assert cli("blur", sharp, "--random-kernel", "--size", "7", "--noise", "0.02", "--seed", "1", "-o", b, "-q").code == 0
    assert a.read_bytes() == b.read_bytes()
    before = a.stat().st_mtime_ns
    r = cli("blur", sharp, "--random-kernel", "--size", "7", "--seed", "2", "-o", a)
    assert r.code == 0 and "skipping" in r.output and a.stat().st_mtime_ns == before
    assert cli("blur", sharp, "--random-kernel", "--size", "7", "--seed", "2", "-o", a, "--overwrite", "-q").code == 0
    assert a.read_bytes() != b.read_bytes()


def test_blur_with_kernel_file_matches_physics(cli, sharp, tmp_path):
    import torch

    from deblurkit.io import image_to_tensor
    from deblurkit.physics import blur

    k = np.zeros((5, 5), np.float32)
    k[2, :] = 0.2
    np.save(tmp_path / "k.npy", k)
    out = tmp_path / "y.tif"
    assert cli("blur", sharp, "--kernel", tmp_path / "k.npy", "--boundary", "circular", "-o", out, "-q").code == 0
    x, _ = read_image(sharp)
    ref = blur(image_to_tensor(x), torch.from_numpy(k), "circular")[0, 0].numpy()
    y, info = read_image(out)
    assert info.bit_depth == 16
    np.testing.assert_allclose(y[:, :, 0], ref, atol=1 / 65535)


@pytest.mark.parametrize("content", [None, b"", b"not an image at all", b"\x89PNG\r\n\x1a\ncorrupt"])
def test_blur_bad_input_one_line_error_and_nothing_written(cli, tmp_path, content):
    src = tmp_path / "in.png"
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / "out.png"
    r = cli("blur", src, "--random-kernel", "-o", out)
    assert r.code != 0
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.output
    assert not out.exists() and not (tmp_path / "out_kernel.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == (["in.png"] if content is not None else [])


def test_blur_refuses_to_overwrite_its_input(cli, sharp):
    before = sharp.read_bytes()
    r = cli("blur", sharp, "--random-kernel", "--size", "5", "-o", sharp, "--overwrite")
    assert r.code == 1 and "overwrite the input" in r.output
    assert sharp.read_bytes() == before


def test_blur_option_errors(cli, sharp, tmp_path):
    r = cli("blur", sharp, "-o", tmp_path / "o.png")
    assert r.code == 1 and "exactly one" in r.output
    r = cli("blur", sharp, "--kernel", tmp_path / "missing.npy", "-o", tmp_path / "o.png")
    assert r.code == 1 and "no such file" in r.output
    r = cli("blur", sharp, "--random-kernel", "--device", "tpu", "-o", tmp_path / "o.png")
    assert r.code == 2 and r.output.startswith("error:")
    r = cli("blur", sharp, "--random-kernel", "--size", "101", "-o", tmp_path / "o.png")
    assert r.code == 1 and "too large" in r.output
    assert not (tmp_path / "o.png").exists()


def test_alpha_warning_is_one_line_and_quiet_hides_it(cli, tmp_path):
    rgba = np.random.default_rng(0).integers(0, 255, (16, 16, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    r = cli("blur", tmp_path / "a.png", "--random-kernel", "--size", "5", "-o", tmp_path / "b.png")
    assert r.code == 0 and sum(line.startswith("warning:") for line in r.output.splitlines()) == 1
    r = cli("blur", tmp_path / "a.png", "--random-kernel", "--size", "5", "-o", tmp_path / "c.png", "--quiet")
    assert r.code == 0 and r.output == ""


def test_example_command(cli, tmp_path):
    r = cli("example", "astronaut", "-o", tmp_path / "a.png", "-q")
    assert r.code == 0
    img, _ = read_image(tmp_path / "a.png")
    assert img.shape == (512, 512, 3)


def test_console_script_and_module_entry_points(tmp_path):
    r = subprocess.run([sys.executable, "-m", "deblurkit", "blur", str(tmp_path / "nope.png"), "--random-kernel", "-o", str(tmp_path / "o.png")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip() == f"error: no such file: {tmp_path / 'nope.png'}"
    r = subprocess.run([sys.executable, "-m", "deblurkit", "deblur-nonuniform", str(tmp_path / "x.png")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip() == f"error: no such file or folder: {tmp_path / 'x.png'}"


@pytest.mark.parametrize("kind", ["uniform", "camera-shake"])
def test_synth_set_writes_a_reproducible_set_and_skips_done_work(cli, tmp_path, kind):
    from deblurkit.physics import blur as blur_op

    src = tmp_path / "photos"
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f"p{i}.png"), (np.random.default_rng(i).random((80, 90, 3)) * 255).astype(np.uint8))
    args = ["synth-set", src, "--blur", kind, "--count", "2", "--split", "all", "--crop", "64", "--size", "9", "--noise", "0", "-q"]
    assert cli(*args, "-o", tmp_path / "a").code == 0
    assert cli(*args, "-o", tmp_path / "b").code == 0
    for stem in ("p0", "p1"):
        y, _ = read_image(tmp_path / "a" / "blurry" / f"{stem}.png")
        x, _ = read_image(tmp_path / "a" / "gt" / f"{stem}.png")
        assert x.shape == y.shape == (64, 64, 3)
        assert (tmp_path / "a" / "blurry" / f"{stem}.png").read_bytes() == (tmp_path / "b" / "blurry" / f"{stem}.png").read_bytes()
        if kind == "uniform":
            k = np.load(tmp_path / "a" / "kernels" / f"{stem}.npy")
            assert k.shape == (9, 9) and abs(k.sum() - 1) < 1e-5
            import torch

            ref = blur_op(torch.from_numpy(x).permute(2, 0, 1)[None].double(), torch.from_numpy(k).double(), mode="same")
            np.testing.assert_allclose(y, ref[0].permute(1, 2, 0).numpy(), atol=1 / 255)
        else:
            assert np.load(tmp_path / "a" / "kernels" / f"{stem}_kernels.npy").ndim == 4
    assert not (tmp_path / "a" / "blurry" / "p2.png").exists()
    before = (tmp_path / "a" / "blurry" / "p0.png").stat().st_mtime_ns
    assert cli(*args, "-o", tmp_path / "a").code == 0
    assert (tmp_path / "a" / "blurry" / "p0.png").stat().st_mtime_ns == before
    r = cli("synth-set", src, "--count", "5", "--split", "all", "-o", tmp_path / "c")
    assert r.code != 0 and len(r.output.strip().splitlines()) == 1 and "--count is 5" in r.output

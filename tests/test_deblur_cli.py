"""`deblurkit deblur`: batch outputs, resume, a corrupt input, torchrun sharding; `bench` end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from deblurkit.io import read_image, write_image, write_kernel
from deblurkit.physics import blur

FAST = ["--steps", "3", "--kernel-size", "31", "--kernel-prior", "fcn", "-q"]


def _scene(seed: int, h: int = 72, w: int = 76, c: int = 1) -> np.ndarray:
    import torch

    rng = np.random.default_rng(seed)
    x = np.kron(rng.random((h // 8 + 1, w // 8 + 1, c)), np.ones((8, 8, 1)))[:h, :w].astype(np.float32)
    k = np.zeros((5, 5), np.float32)
    k[2, :] = 0.2
    y = blur(torch.from_numpy(x).permute(2, 0, 1)[None], torch.from_numpy(k), "same")[0].permute(1, 2, 0).numpy()
    return np.clip(y, 0, 1)


@pytest.fixture
def inputs(tmp_path):
    d = tmp_path / "in"
    write_image(d / "gray.png", _scene(0))
    write_image(d / "sub" / "color.png", _scene(1, c=3))
    write_image(d / "deep16.png", _scene(2), bit_depth=16)
    return d


def test_batch_outputs_resume_and_a_corrupt_input(cli, inputs, tmp_path):
    (inputs / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    r = cli("deblur", inputs, "-o", out, *FAST)
    assert r.code == 1 and r.output.count("error:") == 1 and "broken.png" in r.output
    for stem, channels, depth in (("gray", 1, 8), ("color", 3, 8), ("deep16", 1, 16)):
        img, info = read_image(out / f"{stem}_deblurred.png")
        assert img.shape[2] == channels and info.bit_depth == depth
        k = np.load(out / f"{stem}_kernel.npy")
        assert abs(k.sum() - 1) < 1e-4 and k.min() >= 0
        record = json.loads((out / f"{stem}.json").read_text())
        assert record["settings"]["steps"] == 3 and record["kernel_size"] == 31 and record["kernel_prior"] == "fcn"
        assert "timings" in record["result"] and "loss" in record["result"]
    assert not (out / "broken.json").exists()
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (inputs / "broken.png").unlink()
    r = cli("deblur", inputs, "-o", out, *FAST)
    assert r.code == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # finished inputs skipped


def test_deterministic_under_seed_and_list_files(cli, inputs, tmp_path):
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"# one image\n{inputs / 'gray.png'}\n")
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("deblur", listing, "-o", a, *FAST).code == 0
    assert cli("deblur", inputs / "gray.png", "-o", b, *FAST).code == 0
    assert (a / "gray_deblurred.png").read_bytes() == (b / "gray_deblurred.png").read_bytes()
    assert sorted(p.name for p in a.iterdir()) == ["gray.json", "gray_deblurred.png", "gray_kernel.npy", "gray_kernel.png"]


def test_estimates_option_sets_the_cross_check(cli, inputs, tmp_path):
    from deblurkit.pipeline import DeblurSettings

    assert DeblurSettings().resolved_preset().min_estimates == 2  # fast: cross-checked estimates
    assert DeblurSettings(estimates=1, steps=5).resolved_preset().min_estimates == 1
    assert DeblurSettings(estimates=1, steps=5).resolved_preset().steps == 5
    out = tmp_path / "out"
    assert cli("deblur", inputs / "gray.png", "-o", out, *FAST, "--estimates", "3").code == 0
    record = json.loads((out / "gray.json").read_text())
    # the count itself is tested on the engine (test_solver.py::test_cross_checked_estimates)
    assert record["settings"]["estimates"] == 3 and record["result"]["attempts"]
    r = cli("deblur", inputs / "gray.png", "-o", out, *FAST, "--estimates", "0")
    assert r.code != 0 and "Traceback" not in r.output


def test_missing_input_is_one_line(cli, tmp_path):
    r = cli("deblur", tmp_path / "nope.png", "-o", tmp_path / "o")
    assert r.code == 1 and r.output.strip() == f"error: no such file or folder: {tmp_path / 'nope.png'}"


def test_kernel_size_any_odd_with_fcn_and_one_line_errors(cli, inputs, tmp_path):
    out = tmp_path / "o"
    assert cli("deblur", inputs / "gray.png", "-o", out, "--steps", "3", "--kernel-size", "9", "--kernel-prior", "fcn", "-q").code == 0
    assert json.loads((out / "gray.json").read_text())["kernel_size"] == 9
    assert np.load(out / "gray_kernel.npy").shape[0] <= 9
    for bad in ("18", "1", "big"):
        r = cli("deblur", inputs / "gray.png", "-o", tmp_path / "x", "--kernel-size", bad)
        assert r.code == 1 and r.output.strip().startswith("error: --kernel-size must be auto or an odd number")
    # GLKM needs a generator of that size: one line, the batch reports the failure
    r = cli("deblur", inputs / "gray.png", "-o", tmp_path / "y", "--steps", "3", "--kernel-size", "9", "--kernel-prior", "glkm", "-q")
    assert r.code == 1 and "kernel_gan_9.safetensors" in r.output


@pytest.mark.slow
def test_torchrun_two_processes_write_each_output_once(inputs, tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun not installed")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [torchrun, "--nproc_per_node", "2", "--master_port", "29533", "-m", "deblurkit", "deblur", str(inputs),
           "-o", str(out), "--device", "cpu", *FAST]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert sorted(os.path.basename(rec["input"]) for rec in records) == ["color.png", "deep16.png", "gray.png"]
    assert len(list(out.glob("*_deblurred.png"))) == 3


def test_bench_deblurs_then_evaluates(cli, tmp_path):
    data = tmp_path / "levin"
    write_image(data / "gt" / "im1.png", _scene(5))
    write_image(data / "im1_kernel1_img.png", _scene(5))  # _scene blurs by a 5-px horizontal line
    k = np.zeros((5, 5), np.float32)
    k[2, :] = 0.2
    write_kernel(data / "gt" / "kernel1.png", k)
    run = tmp_path / "run"
    r = cli("bench", "levin", "--data", data, "-o", run, "-q", "--", "--steps", "3", "--kernel-prior", "fcn")
    assert r.code == 0, r.output
    assert (run / "deblurred" / "im1_kernel1_img_deblurred.png").is_file()
    report = json.loads((run / "report.json").read_text())
    assert report["overall"]["n"] == 1 and 0 < report["overall"]["SSIM"] <= 1 and 0 < report["overall"]["MNC"] <= 1
    assert (run / "sheet.png").is_file()


def test_eval_pairs_deblur_outputs_by_the_levin_rule(tmp_path):
    from deblurkit.eval.pairing import compile_rule, find_kernel

    pattern, _ = compile_rule("levin")
    m = pattern.fullmatch("im3_kernel7_img_deblurred")
    assert m and m.group("gt") == "im3" and m.group("kernel") == "kernel7"
    np.save(tmp_path / "im3_kernel7_img_kernel.npy", np.ones((3, 3)))
    assert find_kernel(tmp_path, "im3_kernel7_img_deblurred") == tmp_path / "im3_kernel7_img_kernel.npy"


def test_a_returned_input_keeps_its_bytes(tmp_path, rng):
    from deblurkit.pipeline import write_restored

    src = tmp_path / "photo.jpg"
    write_image(src, rng.random((40, 48, 3)).astype(np.float32))
    observed, info = read_image(src)
    out = tmp_path / "out" / "photo_deblurred.jpg"
    out.parent.mkdir()
    write_restored(out, observed, True, src, info.bit_depth)  # the fallback: no re-encoding
    assert out.read_bytes() == src.read_bytes()
    write_restored(out, np.clip(observed * 0.5, 0, 1), False, src, info.bit_depth)
    assert out.read_bytes() != src.read_bytes() and read_image(out)[0].shape == observed.shape

"""Kernel-initializer commands: train (smoke), weights round trip, estimate-kernel, report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deblurkit.errors import DeblurkitError
from deblurkit.io import read_kernel, write_image
from deblurkit.models.initializer import InitializerConfig, KernelInitializer
from deblurkit.models.kernel_gan import build_kernel_gan
from deblurkit.models.serialization import load_initializer, read_metadata, save_initializer, save_kernel_generator


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("init")
    g, _ = build_kernel_gan(31, seed=0)
    save_kernel_generator(root / "gan.safetensors", g.eval(), training_command="test")
    torch.manual_seed(0)
    save_initializer(root / "init.safetensors", KernelInitializer(InitializerConfig()).eval(), training_command="test")
    photos = root / "photos"
    rng = np.random.default_rng(0)
    for i in range(24):
        write_image(photos / f"{i:03d}.png", rng.random((260, 270, 3)).astype(np.float32))
    levin = root / "levin"
    write_image(levin / "im1_kernel2_img.png", rng.random((64, 64, 1)).astype(np.float32))
    k = np.zeros((9, 9), np.float32)
    k[4, 2:7] = 1
    write_image(levin / "gt" / "kernel2.png", k[:, :, None])
    return root


@pytest.mark.parametrize(
    ("features", "stem_pool", "code"),
    [("luma", True, "z"), ("autocorr", True, "z"), ("autocorr", False, "z"), ("autocorr", True, "w")],
)
def test_initializer_weights_round_trip_and_metadata(tmp_path, features, stem_pool, code):
    torch.manual_seed(1)
    dim = 100 if code == "z" else 2304
    E = KernelInitializer(InitializerConfig(size=31, latent_dim=dim, features=features, stem_pool=stem_pool, code=code))
    E.eval()
    path = save_initializer(tmp_path / "e.safetensors", E, training_command="deblurkit train-initializer ...")
    meta = read_metadata(path)
    assert meta["format"] == "deblurkit.kernel_initializer" and meta["size"] == "31" and meta["latent_dim"] == str(dim)
    E2, _ = load_initializer(path, size=31)
    assert E2.config == E.config
    y = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(E(y), E2(y))
    with pytest.raises(DeblurkitError, match="size 55"):
        load_initializer(path, size=55)
    g, _ = build_kernel_gan(31, seed=0)
    save_kernel_generator(tmp_path / "g.safetensors", g)
    with pytest.raises(DeblurkitError, match="not a deblurkit kernel-initializer"):
        load_initializer(tmp_path / "g.safetensors")


def test_train_initializer_smoke(cli, assets, tmp_path):
    out = tmp_path / "e.safetensors"
    args = ["train-initializer", "--images", assets / "photos", "--gan", assets / "gan.safetensors", "--synth", "4",
            "--epochs", "1", "--samples-per-epoch", "4", "--batch", "2", "--crop", "48", "--inner-steps", "2",
            "--warm-steps", "1", "-o", out, "-q"]
    r = cli(*args)
    assert r.code == 0, r.output
    E, meta = load_initializer(out, size=31)
    training = json.loads(meta["training"])
    assert training["steps"] == 2 and training["recipe"]["name"] == "cpu"
    assert "train-initializer" in meta["training_command"]
    r = cli(*args)
    assert r.code == 0 and r.output == ""  # skipped, quietly
    # fine-tune the result with the flip-tolerant loss
    tuned = tmp_path / "tuned.safetensors"
    r = cli(*args[:-3], "--init", out, "--flip-tolerant", "--lam", "0.01", "--inner-lr", "0.05", "-o", tuned, "-q")
    assert r.code == 0, r.output
    training = json.loads(load_initializer(tuned, size=31)[1]["training"])
    assert training["init"] == str(out) and training["recipe"]["flip_tolerant"] is True
    assert training["recipe"]["lam"] == 0.01 and training["recipe"]["inner_lr"] == 0.05
    r = cli(*args[:-3], "--init", out, "--features", "luma", "-o", tmp_path / "bad.safetensors")
    assert r.code == 1 and "configuration" in r.output and "Traceback" not in r.output


def test_estimate_kernel_and_report(cli, assets, tmp_path):
    r = cli("estimate-kernel", assets / "levin" / "im1_kernel2_img.png", "--gan", assets / "gan.safetensors", "--initializer",
            assets / "init.safetensors", "-o", tmp_path / "k", "-q")
    assert r.code == 0, r.output
    k = np.load(tmp_path / "k" / "im1_kernel2_img_kernel.npy")
    assert k.shape == (31, 31) and abs(k.sum() - 1) < 1e-4
    np.testing.assert_allclose(read_kernel(tmp_path / "k" / "im1_kernel2_img_kernel.png"), k, atol=1e-3)
    out = tmp_path / "rep.json"
    r = cli("initializer-report", "--images", assets / "photos", "--gan", assets / "gan.safetensors", "--initializer",
            assets / "init.safetensors", "--synth", "8", "--count", "3", "--levin", assets / "levin", "--json", out, "-q")
    assert r.code == 0, r.output
    rep = json.loads(out.read_text())
    for part, n in (("validation", 3), ("levin", 1)):
        assert len(rep[part]["per_image"]) == n
        for key in ("mean_mnc_init", "mean_mnc_random_latent", "mean_mnc_mean_kernel"):
            assert 0.0 < rep[part][key] <= 1.0


def test_errors(cli, assets, tmp_path):
    r = cli("estimate-kernel", tmp_path / "missing.png", "--gan", assets / "gan.safetensors", "--initializer",
            assets / "init.safetensors", "-o", tmp_path / "k")
    assert r.code == 1 and "no such file" in r.output
    r = cli("train-initializer", "--images", assets / "photos", "--gan", tmp_path / "nope.safetensors", "--synth", "4", "-o", tmp_path / "e.safetensors")
    assert r.code == 1 and "no such weights file" in r.output

"""Kernel prior: DCGAN generator/discriminator, training, weights files, the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from deblurkit.errors import DeblurkitError
from deblurkit.io import write_kernel, write_kernel_set
from deblurkit.kernels import SynthesisConfig, synthesize_kernels
from deblurkit.models import SIZES, KernelGenerator, build_kernel_gan, config_for_size
from deblurkit.models.serialization import load_kernel_generator, read_metadata, save_kernel_generator
from deblurkit.reports.kernel_prior import FitConfig, kernel_prior_report, place_in_window, sample_diversity, sample_peak
from deblurkit.train.kernel_gan import GANTrainConfig, StepEvent, feature_matching_loss, r1_penalty, train_kernel_gan

ROOT = Path(__file__).resolve().parents[1]
# The notes' table (reference-notes §3): size → (spatial path, w_k side).
TABLE = {
    31: ((3, 7, 15, 31), 3),
    45: ((5, 11, 22, 45), 5),
    55: ((5, 13, 27, 55), 5),
    65: ((7, 15, 32, 65), 7),
    75: ((7, 17, 36, 75), 7),
}


def _layer_sides(g: KernelGenerator, z: torch.Tensor) -> list[int]:
    sides, x = [], g.g1(z)
    sides.append(x.shape[-1])
    for m in g.body:
        x = m(x)
        if isinstance(m, torch.nn.ConvTranspose2d):
            sides.append(x.shape[-1])
    return sides


@pytest.mark.parametrize("size", SIZES)
def test_shapes_and_spatial_path_per_size(size):
    g, d = build_kernel_gan(size, seed=0)
    g.eval()
    d.eval()
    path, side = TABLE[size]
    z = torch.randn(3, 100, 1, 1)
    assert tuple(_layer_sides(g, z)) == path == g.config.spatial_path()
    w = g.first_layer(z)
    assert w.shape == (3, 256, side, side) and (w >= 0).all()
    k = g.from_w(w)
    assert k.shape == (3, 1, size, size)
    p = d(k)
    assert p.shape == (3,) and ((p > 0) & (p < 1)).all()
    assert d(k, logits=True).shape == (3,)
    # the first layer accepts flat latents too
    assert torch.allclose(g.first_layer(z[:, :, 0, 0]), w)


@pytest.mark.parametrize("size", [31, 75])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_kernels_are_probability_maps_and_split_reproduces_forward(size, mode):
    g, _ = build_kernel_gan(size, seed=1)
    g.train(mode == "train")
    z = torch.randn(4, 100, 1, 1, generator=torch.Generator().manual_seed(0))
    k = g(z)
    assert (k >= 0).all()
    torch.testing.assert_close(k.sum(dim=(1, 2, 3)), torch.ones(4), atol=1e-5, rtol=0)
    g.eval()
    with torch.no_grad():
        torch.testing.assert_close(g.from_w(g.first_layer(z)), g(z), atol=0, rtol=0)


def test_architecture_details_follow_the_notes():
    g, d = build_kernel_gan(31, seed=0)
    convs = [m for m in [*g.modules(), *d.modules()] if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert len(convs) == 8 and all(m.bias is None for m in convs)
    assert all(m.eps == 0.8 for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d))
    big = [m.weight.detach() for m in convs if m.weight.numel() > 10_000]
    assert all(abs(float(w.std()) - 0.02) < 0.002 for w in big)
    bn = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(float(m.bias.detach().abs().max()) == 0 and abs(float(m.weight.detach().mean()) - 1) < 0.01 for m in bn)


def test_bad_size_and_bad_shapes():
    with pytest.raises(ValueError, match="size 32"):
        config_for_size(32)
    g, d = build_kernel_gan(31, seed=0)
    with pytest.raises(ValueError):
        g.first_layer(torch.randn(2, 99, 1, 1))
    with pytest.raises(ValueError):
        g.from_w(torch.randn(2, 256, 5, 5))
    with pytest.raises(ValueError):
        d(torch.rand(2, 1, 33, 33))


def _tiny_kernels(size=31, n=64, seed=0):
    return synthesize_kernels(SynthesisConfig("trajectory", size, n, seed))[0]


def test_few_training_steps_lower_the_discriminator_loss(tmp_path):
    events: list[StepEvent] = []
    cfg = GANTrainConfig(size=31, epochs=1, batch=16, seed=0, max_steps=12, checkpoint_every=0, num_samples=4)
    res = train_kernel_gan(_tiny_kernels(n=256), cfg, tmp_path, progress=events.append)
    assert res.steps == 12 and len(events) == 12
    first, last = events[0].loss_d, np.mean([e.loss_d for e in events[-3:]])
    assert 1.0 < first < 1.8  # about 2 ln 2 at chance
    assert last < first - 0.2
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "samples" / "epoch_001.png").is_file()
    assert not res.generator.training


def test_resume_continues_exactly(tmp_path):
    data = _tiny_kernels(n=64)
    cfg = GANTrainConfig(size=31, epochs=2, batch=16, seed=3, checkpoint_every=0, num_samples=4)
    full = train_kernel_gan(data, cfg, tmp_path / "a")
    part = train_kernel_gan(data, replace(cfg, max_steps=6), tmp_path / "b")  # stops mid-epoch 2
    assert part.steps == 6
    rest = train_kernel_gan(data, cfg, tmp_path / "b", resume=True)
    assert rest.resumed_from == 6 and rest.steps == full.steps == 8
    for (name, a), b in zip(full.generator.state_dict().items(), rest.generator.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    with pytest.raises(DeblurkitError, match="seed"):
        train_kernel_gan(data, replace(cfg, seed=4), tmp_path / "b", resume=True)
    with pytest.raises(DeblurkitError, match="no checkpoint"):
        train_kernel_gan(data, cfg, tmp_path / "c", resume=True)


def test_stabilised_recipe_resumes_exactly_and_differs_from_the_paper_recipe(tmp_path):
    """Instance noise and label smoothing are part of the run's identity (deterministic noise draws)."""
    data = _tiny_kernels(n=64)
    cfg = GANTrainConfig(size=31, epochs=1, batch=16, seed=3, checkpoint_every=0, num_samples=4, instance_noise=1.0, label_smoothing=0.1)
    full = train_kernel_gan(data, cfg, tmp_path / "a")
    train_kernel_gan(data, replace(cfg, max_steps=2), tmp_path / "b")
    rest = train_kernel_gan(data, cfg, tmp_path / "b", resume=True)
    for a, b in zip(full.generator.state_dict().values(), rest.generator.state_dict().values()):
        torch.testing.assert_close(a, b)
    plain = train_kernel_gan(data, replace(cfg, instance_noise=0.0, label_smoothing=0.0), tmp_path / "c")
    assert not torch.equal(next(iter(plain.generator.parameters())), next(iter(full.generator.parameters())))
    with pytest.raises(DeblurkitError, match="instance_noise"):
        train_kernel_gan(data, replace(cfg, instance_noise=2.0), tmp_path / "b", resume=True)


def test_r1_penalty_is_the_squared_input_gradient_in_flat_kernel_units():
    """For a linear score D(k) = Σ a·k the penalty is ‖a / S²‖² whatever the kernels."""
    a = torch.randn(1, 1, 7, 7)
    k = torch.rand(3, 1, 7, 7, requires_grad=True)
    pen = r1_penalty((a * k).sum(dim=(1, 2, 3)), k)
    torch.testing.assert_close(pen, (a / 49).square().sum())


@pytest.mark.parametrize("stabiliser, value, other", [("r1", 10.0, 1.0), ("feature_matching", 1.0, 2.0)])
def test_stabiliser_resumes_exactly_and_is_part_of_the_run(tmp_path, stabiliser, value, other):
    """R1 / feature-matching runs are deterministic across a resume, differ from the run without the
    stabiliser, and a resume must match its weight and not start past the run's end."""
    data = _tiny_kernels(n=64)
    cfg = GANTrainConfig(size=31, epochs=1, batch=16, seed=3, checkpoint_every=0, num_samples=4, instance_noise=1.0)
    cfg = replace(cfg, **{stabiliser: value})
    full = train_kernel_gan(data, cfg, tmp_path / "a")
    assert all(np.isfinite(h["loss_d"]) for h in full.history)
    train_kernel_gan(data, replace(cfg, max_steps=2), tmp_path / "b")
    rest = train_kernel_gan(data, cfg, tmp_path / "b", resume=True)
    for x, y in zip(full.generator.state_dict().values(), rest.generator.state_dict().values()):
        torch.testing.assert_close(x, y)
    plain = train_kernel_gan(data, replace(cfg, **{stabiliser: 0.0}), tmp_path / "c")
    assert not torch.equal(next(iter(plain.generator.parameters())), next(iter(full.generator.parameters())))
    with pytest.raises(DeblurkitError, match=stabiliser):
        train_kernel_gan(data, replace(cfg, **{stabiliser: other}), tmp_path / "b", resume=True)
    with pytest.raises(DeblurkitError, match="past this run"):
        train_kernel_gan(data, replace(cfg, max_steps=2), tmp_path / "b", resume=True)


def test_feature_matching_loss_and_discriminator_features():
    """One pass gives the scores and the pre-BN features; the relative FM loss is 0 on a match, 1 for zero features."""
    _, d = build_kernel_gan(31, seed=0)
    k = torch.from_numpy(_tiny_kernels(n=4))[:, None]
    scores, feats = d(k, logits=True, features=True)
    torch.testing.assert_close(scores, d.logits(k))
    torch.testing.assert_close(feats, d.features(k))
    target = feats.mean(dim=0).detach()
    assert feature_matching_loss(feats, target).item() == pytest.approx(0.0, abs=1e-12)
    assert feature_matching_loss(torch.zeros_like(feats), target).item() == pytest.approx(1.0)
    assert feature_matching_loss(2 * feats, target).item() == pytest.approx(1.0, rel=1e-5)


def test_training_rejects_bad_data(tmp_path):
    with pytest.raises(DeblurkitError, match="fewer than one batch"):
        train_kernel_gan(_tiny_kernels(n=8), GANTrainConfig(size=31, batch=16), tmp_path)
    with pytest.raises(DeblurkitError, match=r"\(N, 55, 55\)"):
        train_kernel_gan(_tiny_kernels(n=32), GANTrainConfig(size=55, batch=16), tmp_path)


def test_save_load_round_trip_and_metadata_checks(tmp_path):
    g, _ = build_kernel_gan(31, seed=0)
    g.train()
    g(torch.randn(8, 100, 1, 1))  # move the BN running statistics
    g.eval()
    path = save_kernel_generator(tmp_path / "g.safetensors", g, training_command="deblurkit train-kernel-gan x", training={"seed": 0})
    meta = read_metadata(path)
    assert meta["size"] == "31" and meta["latent_dim"] == "100" and meta["arch_version"] == "1"
    assert meta["training_command"] == "deblurkit train-kernel-gan x" and json.loads(meta["training"]) == {"seed": 0}
    assert json.loads(meta["config"])["bn_eps"] == 0.8
    h, meta2 = load_kernel_generator(path, size=31)
    assert not h.training and meta2 == meta
    z = torch.randn(2, 100, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(h(z), g(z), atol=0, rtol=0)
    with pytest.raises(DeblurkitError, match="size 55 was asked"):
        load_kernel_generator(path, size=55)
    with pytest.raises(DeblurkitError, match="no such weights file"):
        load_kernel_generator(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DeblurkitError, match="not a readable"):
        load_kernel_generator(bad)
    # a file whose metadata lies about its architecture
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    for key, value, msg in [
        ("arch_version", "0", "architecture version"),
        ("format", "something.else", "not a deblurkit kernel-generator"),
        ("config", json.dumps({**json.loads(meta["config"]), "k2": 4}), "differs from the tabulated"),
    ]:
        save_file(tensors, str(bad), metadata={**meta, key: value})
        with pytest.raises(DeblurkitError, match=msg):
            load_kernel_generator(bad)
    save_file({k: v for k, v in tensors.items() if k != "g1.0.weight"}, str(bad), metadata=meta)
    with pytest.raises(DeblurkitError, match="missing"):
        load_kernel_generator(bad)


def test_place_in_window_pads_crops_and_centres():
    k = np.zeros((9, 9), np.float32)
    k[1, 2] = 1.0
    k[3, 4] = 1.0  # centre of mass (2, 3)
    out = place_in_window(k, 31)
    assert out.shape == (31, 31) and abs(out.sum() - 1) < 1e-6
    assert out[14, 14] == pytest.approx(0.5) and out[16, 16] == pytest.approx(0.5)
    big = np.ones((41, 41), np.float32)
    out = place_in_window(big, 31)
    assert out.shape == (31, 31) and np.allclose(out, 1 / 31**2)


def test_report_engine_on_an_untrained_generator():
    g, _ = build_kernel_gan(31, seed=0)
    refs = [(f"k{i}", k) for i, k in enumerate(_tiny_kernels(n=2, seed=5))]
    cfg = FitConfig(steps_w=30, steps_z=10, restarts_w=2, restarts_z=2, num_samples=8)
    rep = kernel_prior_report(g, refs, cfg)
    assert {"per_kernel", "mean_mnc_w", "mean_mnc_z", "sample_diversity"} <= set(rep)
    assert [r["name"] for r in rep["per_kernel"]] == ["k0", "k1"]
    for r in rep["per_kernel"]:
        assert 0 <= r["mnc_z"] <= 1 and 0 <= r["mnc_w"] <= 1
    assert 0 < rep["sample_diversity"] <= 1
    assert all(p.requires_grad for p in g.parameters())  # restored after the fit
    assert sample_diversity(g, 8, seed=1) == sample_diversity(g, 8, seed=1)
    assert 1 / 31**2 < rep["sample_peak"] <= 1 and 0 < rep["reference_peak"] <= 1


def test_sample_peak_flags_a_saturated_generator():
    """Scaling the last layer's weights sharpens the softmax: the samples' peak rises towards 1."""
    g, _ = build_kernel_gan(31, seed=0)
    before = sample_peak(g, 8)
    last = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)][-1]
    with torch.no_grad():
        last.weight.mul_(1000.0)
    assert sample_peak(g, 8) > max(0.5, 10 * before)


def test_cli_train_skip_and_report(cli, tmp_path):
    out = tmp_path / "g31.safetensors"
    args = ["train-kernel-gan", "--size", "31", "--synth", "64", "--batch", "16", "--epochs", "1", "--steps", "3", "--seed", "1"]
    res = cli(*args, "--device", "cpu", "-o", out)
    assert res.code == 0, res.output
    meta = read_metadata(out)
    assert meta["training_command"].startswith("deblurkit train-kernel-gan --size 31 --synth 64")
    assert json.loads(meta["training"])["steps"] == 3
    assert (tmp_path / "g31.train" / "checkpoint.pt").is_file()
    assert list((tmp_path / "g31.train" / "samples").glob("epoch_*.png"))
    stamp = out.stat().st_mtime_ns
    res = cli(*args, "-o", out)
    assert res.code == 0 and "skipping" in res.output and out.stat().st_mtime_ns == stamp
    # an interrupted run's checkpoint is never silently discarded
    out.unlink()
    res = cli(*args, "-o", out)
    assert res.code == 1 and "--resume" in res.output
    assert cli(*args, "--resume", "-o", out).code == 0  # already at 3 steps: writes the weights

    kdir = tmp_path / "refs"
    for i, k in enumerate(_tiny_kernels(size=21, n=2, seed=9)):
        write_kernel(kdir / f"kernel{i + 1}.png", k)
    js = tmp_path / "report.json"
    res = cli("kernel-prior-report", "--weights", out, "--kernels", kdir, "--steps", "5", "--samples", "4", "--json", js)
    assert res.code == 0, res.output
    rep = json.loads(js.read_text())
    assert [r["name"] for r in rep["per_kernel"]] == ["kernel1", "kernel2"]
    assert {"mean_mnc_w", "mean_mnc_z", "sample_diversity"} <= set(rep)


def test_cli_bad_inputs(cli, tmp_path):
    out = tmp_path / "g.safetensors"
    res = cli("train-kernel-gan", "--size", "32", "--synth", "10", "-o", out)
    assert res.code == 1 and "size 32" in res.output and len(res.output.strip().splitlines()) == 1
    res = cli("train-kernel-gan", "--size", "31", "-o", out)
    assert res.code == 1 and "exactly one of" in res.output
    npz = tmp_path / "k.npz"
    write_kernel_set(npz, _tiny_kernels(size=21, n=4), {"config": {}})
    res = cli("train-kernel-gan", "--size", "31", "--kernels", npz, "-o", out)
    assert res.code == 1 and "21×21" in res.output
    res = cli("train-kernel-gan", "--size", "31", "--synth", "8", "--batch", "16", "-o", out)
    assert res.code == 1 and "fewer than one batch" in res.output
    res = cli("train-kernel-gan", "--size", "31", "--kernels", npz, "-o", npz)
    assert res.code == 1 and not out.exists()
    res = cli("kernel-prior-report", "--weights", tmp_path / "nope.safetensors", "--kernels", npz)
    assert res.code == 1 and "no such weights file" in res.output
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a weights file")
    res = cli("kernel-prior-report", "--weights", bad, "--kernels", npz)
    assert res.code == 1 and res.output.startswith("error:") and len(res.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_torchrun_two_processes_cpu(tmp_path):
    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "deblurkit", "train-kernel-gan", "--size", "31", "--synth", "64", "--batch", "16",
        "--steps", "2", "--r1", "10", "--device", "cpu", "--seed", "0", "-o", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    g, meta = load_kernel_generator(out, size=31)
    training = json.loads(meta["training"])
    assert training["world_size"] == 2 and training["steps"] == 2
    assert meta["training_command"].startswith("torchrun --nproc_per_node 2 -m deblurkit train-kernel-gan")
    assert (tmp_path / "ddp.train" / "checkpoint.pt").is_file()


@pytest.mark.parametrize("size", [31, 55, 75])
def test_shipped_weights_load(size):
    path = ROOT / "weights" / f"kernel_gan_{size}.safetensors"
    if not path.is_file():
        pytest.skip(f"{path.name} not shipped in this checkout")
    g, meta = load_kernel_generator(path, size=size)
    assert "train-kernel-gan" in meta["training_command"]
    with torch.no_grad():
        k = g(torch.randn(4, 100, 1, 1))
    assert k.shape == (4, 1, size, size)
    assert path.stat().st_size < 20 * 2**20

"""Diffusion priors (BIRD, BlindDPS), the diffusers model folder and `train-diffusion`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from deblurkit.errors import DeblurkitError
from deblurkit.io import write_image
from deblurkit.models.diffusion import from_modules, import_diffusers, load_diffusion_model, small_unet
from deblurkit.physics import blur
from deblurkit.solvers.diffusion_priors import BIRDPrior, BlindDPSPrior, DDIMChainSource, ddim_step, ddim_timesteps, spaced_timesteps
from deblurkit.solvers.image_priors import make_image_prior
from deblurkit.solvers.joint import joint_optimize
from deblurkit.solvers.kernel_priors import FCNPrior, GLKMPrior
from deblurkit.solvers.presets import Preset

TINY_WIDTHS = (8, 16)


def _tiny_model(channels: int = 1):
    torch.manual_seed(0)
    unet = small_unet(32, channels, TINY_WIDTHS)
    sched = import_diffusers().DDPMScheduler(num_train_timesteps=1000)
    return unet, sched


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddpm")
    unet, sched = _tiny_model()
    import_diffusers().DDPMPipeline(unet=unet, scheduler=sched).save_pretrained(d)
    return d


def _observation(n: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.kron(torch.rand(n // 4, n // 4, generator=g), torch.ones(4, 4))[None, None]
    k = torch.zeros(5, 5)
    k[2, :] = 0.2
    return blur(x, k, mode="valid")  # (1, 1, n − 4, n − 4)


def test_ddim_time_grid_and_deterministic_step():
    assert ddim_timesteps(1000, 100) == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    with pytest.raises(ValueError):
        ddim_timesteps(1000, 0)
    assert spaced_timesteps(1000, 4) == [999, 749, 500, 250]
    model = from_modules(*_tiny_model())
    x = torch.randn(1, 1, 8, 8)
    # the last step (to ᾱ = 1) returns the prediction x̂₀ itself
    x_prev, x0 = ddim_step(model, x, 99, -1)
    assert torch.allclose(x_prev, x0)
    a = float(model.alphas_cumprod[99])
    eps = model.eps(x, 99)
    assert torch.allclose(x0, ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(-1, 1), atol=1e-6)
    # BIRD's x_T: padded to the UNet's factor, rescaled to norm √n after a step
    src = DDIMChainSource(model, 1, 13, 15, 250, 0.1, torch.Generator().manual_seed(0))
    assert src.x_T.shape == (1, 1, 14, 16) and src().shape == (1, 1, 13, 15)
    with torch.no_grad():
        src.x_T.mul_(3.0)
    src.after_step()
    assert float(src.x_T.detach().norm()) == pytest.approx(math.sqrt(14 * 16), rel=1e-5)


def test_folder_loads_and_bad_folders_give_one_line_errors(model_dir, tmp_path):
    m = load_diffusion_model(model_dir)
    assert m.channels == 1 and m.factor == 2 and m.timesteps == 1000
    assert not any(p.requires_grad for p in m.unet.parameters())
    with pytest.raises(DeblurkitError, match="no diffusion model at"):
        load_diffusion_model(tmp_path / "nowhere")
    bad = tmp_path / "bad"
    (bad / "unet").mkdir(parents=True)
    (bad / "scheduler").mkdir()
    (bad / "unet" / "config.json").write_text("{not json")
    (bad / "scheduler" / "scheduler_config.json").write_text("{}")
    with pytest.raises(DeblurkitError, match="not valid JSON"):
        load_diffusion_model(bad)
    (bad / "unet" / "config.json").write_text((model_dir / "unet" / "config.json").read_text())
    with pytest.raises(DeblurkitError, match="diffusion_pytorch_model.safetensors is missing"):
        load_diffusion_model(bad)
    (bad / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"corrupt")
    with pytest.raises(DeblurkitError, match="could not be loaded") as e:
        load_diffusion_model(bad)
    assert "\n" not in str(e.value)


def test_bird_lowers_its_loss_on_its_own_schedule(model_dir):
    model = load_diffusion_model(model_dir)
    y = _observation()
    prior = BIRDPrior(model, step=250, iterations=8, lr=0.05)
    preset = Preset(name="tiny", steps=500, crop=None, final="nonblind", max_restarts=0, estimator="dip")
    res = joint_optimize(y, FCNPrior(5), preset, seed=0, image_prior=prior)
    assert len(res.losses) == 8  # BIRD's own schedule, not the preset's 500 DIP steps
    assert all(math.isfinite(v) for v in res.losses)
    assert res.losses[-1] < res.losses[0]
    assert res.x.shape == (1, 1, 40, 40) and float(res.x.min()) >= 0 and float(res.x.max()) <= 1


def test_blinddps_samples_with_a_glkm_kernel(model_dir):
    from deblurkit.models.kernel_gan import build_kernel_gan

    model = load_diffusion_model(model_dir)
    g, _ = build_kernel_gan(31, seed=0)
    y = _observation(64)
    kp = GLKMPrior(g, z=torch.randn(1, g.config.latent_dim, generator=torch.Generator().manual_seed(0)))
    w0 = kp.w.detach().clone()
    preset = Preset(name="tiny", steps=3, crop=None, final="nonblind", max_restarts=0, estimator="dip")
    res = joint_optimize(y, kp, preset, seed=0, image_prior=BlindDPSPrior(model, steps=6))
    assert len(res.losses) == 6 and all(math.isfinite(v) for v in res.losses)
    assert res.kernel.shape == (31, 31) and abs(float(res.kernel.sum()) - 1) < 1e-4
    assert not torch.equal(kp.w.detach(), w0)  # the latent kernel code moved
    assert res.x.shape == (1, 1, 60 + 30, 60 + 30)


def test_diffusion_prior_without_a_model():
    with pytest.raises(ValueError, match="needs a diffusion model"):
        make_image_prior("bird")


def test_cli_bird_with_a_local_model_and_a_corrupt_one(cli, model_dir, tmp_path):
    rng = np.random.default_rng(0)
    x = np.kron(rng.random((10, 10, 1)), np.ones((8, 8, 1))).astype(np.float32)
    k = torch.zeros(5, 5)
    k[2, :] = 0.2
    y = blur(torch.from_numpy(x).permute(2, 0, 1)[None], k, "same")[0].permute(1, 2, 0).numpy()
    write_image(tmp_path / "img.png", np.clip(y, 0, 1))
    out = tmp_path / "out"
    r = cli("deblur", str(tmp_path / "img.png"), "-o", str(out), "--prior", "bird", "--diffusion-model", str(model_dir),
            "--kernel-size", "31", "--steps", "2", "-q")
    assert r.code == 0, r.output
    rec = json.loads((out / "img.json").read_text())
    assert rec["diffusion_model"]["path"] == str(model_dir) and len(rec["diffusion_model"]["sha256"]) == 64
    assert any("joint bird" in n for n in rec["result"]["notes"])
    bad = tmp_path / "corrupt"
    bad.mkdir()
    r = cli("deblur", str(tmp_path / "img.png"), "-o", str(tmp_path / "out2"), "--prior", "bird", "--diffusion-model", str(bad), "-q")
    assert r.code != 0 and "unet/config.json is missing" in r.output and "Traceback" not in r.output


def test_train_diffusion_writes_a_loadable_folder_with_a_model_card(cli, tmp_path):
    imgs = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(imgs / f"{i}.png", rng.random((70, 80, 3)).astype(np.float32))
    out = tmp_path / "ddpm"
    r = cli("train-diffusion", "--images", str(imgs), "--size", "64", "--steps", "2", "--batch", "2", "--split", "all",
            "--sample-steps", "2", "-o", str(out), "-q")
    assert r.code == 0, r.output
    m = load_diffusion_model(out)
    assert m.channels == 1
    card = (out / "README.md").read_text()
    assert "train-diffusion" in card and "sha256" in card and "--sample-steps 2" in card and "(2 steps" in card
    assert json.loads((out / "training.json").read_text())["config"]["steps"] == 2
    r = cli("train-diffusion", "--images", str(imgs), "--size", "64", "--steps", "2", "-o", str(out), "--split", "all")
    assert r.code == 0 and "skipping" in r.output

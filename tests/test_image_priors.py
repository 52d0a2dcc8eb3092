"""Image priors of the joint loop: DIP and VDIP (Std / Sparse / Extreme)."""

from __future__ import annotations

import math

import pytest
import torch

from deblurkit.physics import blur
from deblurkit.solvers.image_priors import (
    DIPPrior,
    VDIPPrior,
    extreme_kl,
    make_image_prior,
    multiscale_fit,
    sparse_kl,
)
from deblurkit.solvers.joint import joint_optimize
from deblurkit.solvers.kernel_priors import FCNPrior
from deblurkit.solvers.presets import Preset


def _tiny(steps: int, **kw) -> Preset:
    base = {"name": "tiny", "steps": steps, "width": 8, "scales": 3, "skip_channels": 4, "crop": None, "final": "nonblind", "max_restarts": 1, "estimator": "dip"}
    base.update(kw)
    return Preset(**base)


def _scene(n: int, background: float = 0.2) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.full((n, n), background)
    for _ in range(10):
        r0, c0 = torch.randint(0, n - 4, (2,), generator=g).tolist()
        x[r0 : r0 + 8, c0 : c0 + 6] = 0.1 + 0.8 * torch.rand(1, generator=g)
    return x[None, None]


def test_multiscale_fit_by_hand():
    # a single unit residual in a 3×3 image: ½·1 + ¼·(2 + 2) + ⅛·(2 + 4 + 2 + 4)... counted below
    r = torch.zeros(1, 1, 3, 3)
    r[0, 0, 1, 1] = 1.0
    # first differences: the vertical one has two ±1 entries, so has the horizontal one → ¼ · 4
    # second differences: ∂vv r (1×3) holds −2 at the centre column → 4; ∂hh likewise → 4;
    # ∂vh r (2×2) holds ±1 four times → 4; ∂hv r likewise → 4; ⅛ · 16
    expected = (0.5 * 1 + 0.25 * 4 + 0.125 * 16) / 9
    assert float(multiscale_fit(r, torch.zeros_like(r))) == pytest.approx(expected)


def test_sparse_kl_by_hand():
    mean = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])  # (1, 1, 2, 2): horizontal steps of 1
    std = torch.full_like(mean, 0.1)
    # each difference: P = (∂μ)² + 2σ²; re-weighted P / (P + 1e-6) ≈ 1 for all 4 differences
    pv = torch.tensor([0.02, 0.02])
    ph = torch.tensor([1.02, 1.02])
    penalty = float(((pv / (pv + 1e-6)).sum() + (ph / (ph + 1e-6)).sum()) / (4 * 1 * 1))
    expected = penalty - math.log(0.1)
    assert float(sparse_kl(mean, std)) == pytest.approx(expected, rel=1e-6)


def test_extreme_kl_is_finite_and_rewards_entropy():
    g = torch.Generator().manual_seed(0)
    mean = torch.rand(1, 1, 40, 40, generator=g)
    low = extreme_kl(mean, torch.full_like(mean, 0.01), torch.Generator().manual_seed(1))
    high = extreme_kl(mean, torch.full_like(mean, 0.2), torch.Generator().manual_seed(1))
    assert math.isfinite(float(low)) and math.isfinite(float(high))
    assert float(high) < float(low)  # the entropy term −Σ log σ favours a wider posterior
    with pytest.raises(ValueError, match="at least 35"):
        extreme_kl(mean[..., :20, :20], mean[..., :20, :20], g)


def test_vdip_outputs_mean_and_std():
    p = VDIPPrior("sparse")
    out = torch.rand(1, 2, 5, 5)
    assert p.channels(1) == 2 and torch.equal(p.image(out), out[:, :1]) and torch.equal(p.std(out), out[:, 1:])
    assert make_image_prior("dip").channels(3) == 3
    with pytest.raises(ValueError, match="unknown image prior"):
        make_image_prior("tv")
    with pytest.raises(ValueError, match="unknown VDIP"):
        VDIPPrior("dark")


@pytest.mark.parametrize("name", ["dip", "vdip-std", "vdip-sparse", "vdip-extreme"])
def test_each_prior_lowers_its_loss_in_the_joint_loop(name):
    x = _scene(52)
    k = torch.zeros(5, 5)
    k[2, :] = 0.2
    y = blur(x, k, mode="valid")  # (1, 1, 48, 48): big enough for the 35-px extreme channel
    res = joint_optimize(y, FCNPrior(5), _tiny(30, mse_fraction=1.0), seed=0, image_prior=make_image_prior(name))
    assert all(math.isfinite(v) for v in res.losses)
    # the blurred estimate explains y far better than the network's grey start (sigmoid ≈ 0.5)
    assert res.mse < 0.5 * float(((y - 0.5) ** 2).mean())
    first, last = sum(res.losses[:3]) / 3, sum(res.losses[-3:]) / 3
    if name != "vdip-sparse":
        assert last < first
    # VDIP-Sparse's −ELBO is not monotone: its entropy term −ρ Σ log σ grows as the posterior
    # contracts from the sigmoid's σ ≈ 0.5, while its re-weighted penalty stays ≈ 1 per difference
    assert res.x.shape == (1, 1, 52, 52)  # the mean only, whatever the network outputs
    assert isinstance(make_image_prior(name), DIPPrior if name == "dip" else VDIPPrior)


def test_pyramid_pipeline_refines_with_a_vdip_prior():
    """The coarse-to-fine estimate, then the joint refinement with VDIP-Sparse (GLKM's latent kernel)."""
    from deblurkit.models.kernel_gan import build_kernel_gan
    from deblurkit.solvers.blind import deblur_image_pyramid
    from deblurkit.solvers.coarse_to_fine import PyramidConfig

    g, _ = build_kernel_gan(31, seed=0)
    x = _scene(130, background=0.5)
    k = torch.zeros(9, 9)
    k[4, :] = 1 / 9
    img = blur(x, k, mode="valid")[0].permute(1, 2, 0).numpy()  # (122, 122, 1)
    # the latent kernel at every level: the refinement starts from the estimate's own code
    cfg = PyramidConfig(iterations=1, latent_steps=3, free_steps=3, latent_levels=99)
    res = deblur_image_pyramid(img, "glkm", 31, _tiny(6), generator=g, image_prior="vdip-sparse", config=cfg)
    assert res.image.shape == img.shape and res.kernel.shape == (31, 31)
    assert any("joint vdip-sparse" in n for n in res.notes)
    with pytest.raises(ValueError, match="latent code"):
        deblur_image_pyramid(img, "free", 31, _tiny(4), image_prior="vdip-std", config=cfg)

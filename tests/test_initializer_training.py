"""Kernel-initializer training (GLKM Algorithm 1): inversion, outer step, recipes, resume."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from deblurkit.errors import DeblurkitError
from deblurkit.kernels import SynthesisConfig, synthesize_kernels
from deblurkit.models.initializer import InitializerConfig, KernelInitializer
from deblurkit.models.kernel_gan import build_kernel_gan
from deblurkit.train.initializer import (
    RECIPES,
    invert_latents,
    inversion_start,
    kernel_loss,
    outer_loss,
    recipe_by_name,
    train_initializer,
)


@pytest.fixture(scope="module")
def generator():
    g, _ = build_kernel_gan(31, seed=0)
    return g.eval()


@pytest.fixture(scope="module")
def kernels():
    return synthesize_kernels(SynthesisConfig(size=31, count=8, seed=0))[0]


def test_inversion_lowers_l1(generator, kernels):
    k = torch.from_numpy(kernels[:4])[:, None]
    z0 = torch.randn(4, 100, 1, 1, generator=torch.Generator().manual_seed(0))
    before = (generator(z0) - k).abs().flatten(1).sum(1)
    z = invert_latents(generator, k, z0, steps=20)
    after = (generator(z) - k).abs().flatten(1).sum(1)
    assert (after < before).all()
    assert all(p.grad is None for p in generator.parameters())


def test_nonnegative_inversion_in_w_space_stays_in_the_relu_range_and_lowers_l1(generator, kernels):
    k = torch.from_numpy(kernels[:4])[:, None]
    w0 = torch.randn(4, *generator.config.w_shape, generator=torch.Generator().manual_seed(0))
    before = (generator.from_w(w0.clamp(min=0)) - k).abs().flatten(1).sum(1)
    w = invert_latents(generator.from_w, k, w0, steps=20, lr=0.1, nonnegative=True)
    after = (generator.from_w(w) - k).abs().flatten(1).sum(1)
    assert w.shape == w0.shape and float(w.min()) >= 0.0
    assert (after < before).all()


def test_inner_then_outer_steps_lower_the_outer_loss(generator, kernels):
    torch.manual_seed(0)
    E = KernelInitializer(InitializerConfig())
    E.train()
    y = torch.rand(8, 1, 48, 48)
    k = torch.from_numpy(kernels)[:, None]
    opt = torch.optim.Adam(E.parameters(), lr=1e-4)
    z_star = invert_latents(generator, k, E(y).detach(), steps=10)
    losses = []
    for _ in range(10):
        loss = outer_loss(generator, E(y), z_star)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def _images():
    rng = np.random.default_rng(0)
    return [rng.random((72, 80)).astype(np.float32) for _ in range(3)]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_both_recipes_run_through_the_same_trainer_and_resume(generator, kernels, name, tmp_path):
    recipe = recipe_by_name(
        name, epochs=1, samples_per_epoch=8, batch=4, crop=48, inner_steps=2, warm_steps=None if name == "paper" else 1,
        checkpoint_every=0,
    )
    res = train_initializer(_images(), kernels, generator, recipe, tmp_path)
    assert res.steps == 2 and len(res.history) == 1 and np.isfinite(res.history[0]["loss"])
    more = train_initializer(_images(), kernels, generator, replace(recipe, epochs=2), tmp_path, resume=True)
    assert more.resumed_from == 2 and more.steps == 4
    with torch.no_grad():
        dim = 100 if recipe.code == "z" else 256 * 3 * 3
        assert more.encoder(torch.rand(1, 1, 64, 64)).shape == (1, dim, 1, 1)


def test_cache_is_filled_and_reused(generator, kernels, tmp_path):
    recipe = recipe_by_name("cpu", epochs=2, samples_per_epoch=8, batch=4, crop=48, inner_steps=2, warm_steps=1, checkpoint_every=0)
    train_initializer(_images(), kernels, generator, recipe, tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert bool(state["cached"].all()) and state["cache"].abs().sum() > 0


def test_errors(generator, kernels, tmp_path):
    with pytest.raises(DeblurkitError):
        train_initializer(_images(), kernels[:, :15, :15], generator, RECIPES["cpu"], tmp_path)
    with pytest.raises(DeblurkitError):
        recipe_by_name("nope")
    with pytest.raises(DeblurkitError):
        recipe_by_name("cpu", bogus=1)


def test_more_kernels_than_samples_per_epoch_is_refused(generator, kernels, tmp_path):
    """Sample i uses kernel i mod N: kernels past the epoch's length would silently never be used."""
    recipe = recipe_by_name("cpu", samples_per_epoch=len(kernels) - 1, batch=2, crop=48)
    with pytest.raises(DeblurkitError, match="never be seen"):
        train_initializer(_images(), kernels, generator, recipe, tmp_path)


def test_inversion_start_takes_the_better_fitting_code(generator):
    """Cached kernels start from the better of cache and E(y); new kernels from E(y)."""
    torch.manual_seed(0)
    z_good = torch.randn(3, 100, 1, 1)
    with torch.no_grad():
        k = generator(z_good)
    z_bad = z_good + 3 * torch.randn(3, 100, 1, 1)
    cached = torch.tensor([True, True, False])
    # cache good, E(y) bad → cache; cache bad, E(y) good → E(y); not cached → E(y) even if the cache is good
    z_cache = torch.stack([z_good[0], z_bad[1], z_good[2]])
    z_hat = torch.stack([z_bad[0], z_good[1], z_bad[2]])
    z0 = inversion_start(generator, k, z_hat, z_cache, cached)
    torch.testing.assert_close(z0, torch.stack([z_good[0], z_good[1], z_bad[2]]))


def test_flip_tolerant_loss_takes_the_better_orientation(generator):
    """With z* and z*_flip the per-sample loss is the smaller term; equal codes give the plain loss."""
    torch.manual_seed(0)
    z_hat, z_a, z_b = torch.randn(3, 4, 100, 1, 1)
    plain_a = outer_loss(generator, z_hat, z_a)
    plain_b = outer_loss(generator, z_hat, z_b)
    both = outer_loss(generator, z_hat, z_a, z_star_flip=z_b)
    assert both <= min(plain_a, plain_b) + 1e-6
    assert torch.isclose(outer_loss(generator, z_hat, z_a, z_star_flip=z_a), plain_a)
    assert outer_loss(generator, z_a, z_b, z_star_flip=z_a) < 1e-6  # E(y) at the flipped target costs nothing


def test_flip_tolerant_training_caches_both_orientations_and_fine_tunes(generator, kernels, tmp_path):
    recipe = recipe_by_name(
        "cpu", epochs=1, samples_per_epoch=8, batch=4, crop=48, inner_steps=2, warm_steps=1, checkpoint_every=0,
        flip_tolerant=True,
    )
    first = train_initializer(_images(), kernels, generator, recipe, tmp_path / "a")
    state = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    assert state["cache"].shape[0] == 2 * len(kernels) and bool(state["cached"].all())
    assert np.isfinite(first.history[0]["loss"])
    # fine-tuning starts from the given weights, and refuses another configuration
    tuned = train_initializer(_images(), kernels, generator, replace(recipe, max_steps=1), tmp_path / "b", init=first.encoder)
    assert tuned.steps == 1
    start = train_initializer(_images(), kernels, generator, replace(recipe, max_steps=0), tmp_path / "c", init=first.encoder)
    y = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(start.encoder(y), first.encoder.eval()(y))
    with pytest.raises(DeblurkitError, match="configuration"):
        train_initializer(_images(), kernels, generator, replace(recipe, features="luma"), tmp_path / "d", init=first.encoder)


def test_stem_pool_reaches_the_encoder_and_a_resume_must_match_it(generator, kernels, tmp_path):
    recipe = recipe_by_name("cpu", epochs=1, samples_per_epoch=8, batch=4, crop=48, inner_steps=1, warm_steps=1,
                            stem_pool=False, checkpoint_every=0)
    res = train_initializer(_images(), kernels, generator, recipe, tmp_path)
    assert res.encoder.config.stem_pool is False and isinstance(res.encoder.net.maxpool, torch.nn.Identity)
    with pytest.raises(DeblurkitError, match="stem_pool"):
        train_initializer(_images(), kernels, generator, replace(recipe, epochs=2, stem_pool=True), tmp_path, resume=True)


def test_kernel_loss_is_the_l1_to_the_true_kernel_and_takes_the_better_orientation(generator, kernels):
    torch.manual_seed(0)
    z = torch.randn(4, 100, 1, 1)
    with torch.no_grad():
        k_hat = generator(z)
    k = torch.from_numpy(kernels[:4])[:, None]
    flip = torch.flip(k, dims=(-2, -1))
    per_sample = [(k_hat - t).abs().flatten(1).sum(1) for t in (k, flip)]
    assert torch.isclose(kernel_loss(generator, z, k), per_sample[0].mean())
    assert torch.isclose(kernel_loss(generator, z, k, kernels_flip=flip), torch.minimum(*per_sample).mean())
    assert kernel_loss(generator, z, k_hat) < 1e-6
    assert kernel_loss(generator, z, flip, kernels_flip=k_hat) < 1e-6  # the better orientation costs nothing


def test_kernel_target_trains_without_inversion_and_a_resume_must_match_it(generator, kernels, tmp_path):
    """target="kernel" fits ‖G(E(y)) − k‖₁: no codes are cached, the loss falls on a tiny fixed batch."""
    recipe = recipe_by_name("cpu", epochs=6, samples_per_epoch=4, batch=4, crop=48, target="kernel", lr=1e-3,
                            checkpoint_every=0, noise_max=0.0, jpeg_prob=0.0)
    res = train_initializer(_images(), kernels[:4], generator, recipe, tmp_path)
    losses = [h["loss"] for h in res.history]
    assert res.steps == 6 and losses[-1] < losses[0]
    assert all(h["loss"] == pytest.approx(h["inner_l1"]) for h in res.history)  # no latent term
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert not bool(state["cached"].any())
    with pytest.raises(DeblurkitError, match="target"):
        train_initializer(_images(), kernels[:4], generator, replace(recipe, epochs=7, target="inversion"), tmp_path,
                          resume=True)
    with pytest.raises(DeblurkitError, match="unknown target"):
        train_initializer(_images(), kernels[:4], generator, replace(recipe, target="nope"), tmp_path / "x")


def test_w_code_trains_through_the_same_trainer_with_both_targets(generator, kernels, tmp_path):
    """code="w": the encoder's head has 256·k1² outputs; the inversion (target "inversion") stays w ≥ 0."""
    recipe = recipe_by_name("cpu", epochs=1, samples_per_epoch=8, batch=4, crop=48, inner_steps=2, warm_steps=1,
                            code="w", checkpoint_every=0)
    res = train_initializer(_images(), kernels, generator, recipe, tmp_path / "inv")
    assert res.encoder.config.code == "w" and res.encoder.config.latent_dim == 256 * 3 * 3
    state = torch.load(tmp_path / "inv" / "checkpoint.pt", weights_only=True)
    assert bool(state["cached"].all()) and float(state["cache"].min()) >= 0.0
    direct = train_initializer(_images(), kernels, generator, replace(recipe, target="kernel"), tmp_path / "k")
    assert np.isfinite(direct.history[0]["loss"])
    with pytest.raises(DeblurkitError, match="code"):
        train_initializer(_images(), kernels, generator, replace(recipe, epochs=2, code="z"), tmp_path / "inv",
                          resume=True)
    with pytest.raises(DeblurkitError, match="unknown code"):
        train_initializer(_images(), kernels, generator, replace(recipe, code="u"), tmp_path / "x")

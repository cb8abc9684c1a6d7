"""Tests for the temporally causal 3D VAE (seedance.model.vae).

Every VAE here is tiny (a few thousand parameters, 16-32 px) so the file runs in seconds on
2 CPU cores; the production config is only built on the meta device.
"""

from __future__ import annotations

import math

import pytest
import torch

from seedance.model.config import VAEConfig
from seedance.model.presets import preset
from seedance.model.vae import CausalVAE, LatentDistribution


def small_cfg(compression: tuple[int, int, int] = (4, 8, 8), latent_channels: int = 4, **kw) -> VAEConfig:
    """A narrow VAE with the given compression: same architecture as the presets, tiny widths."""
    levels = int(math.log2(compression[1])) + 1
    widths = (8, 8, 16, 16, 16, 16)[:levels]
    thin = (4, 8, 16, 16, 16, 16)[:levels]
    return VAEConfig(
        latent_channels=latent_channels,
        compression=compression,
        encoder_channels=widths,
        decoder_channels=widths,
        thin_decoder_channels=thin,
        num_res_blocks=1,
        **kw,
    )


def make_vae(cfg: VAEConfig | None = None, thin: bool = False, seed: int = 0) -> CausalVAE:
    """A VAE with its ReZero gates opened (they start at 0, which silences every residual branch
    and would let the causality tests pass without exercising the residual convs)."""
    torch.manual_seed(seed)
    vae = CausalVAE(cfg or small_cfg(), thin_decoder=thin).eval()
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("alpha"):
                p.fill_(0.5)
    return vae


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---- causality ---------------------------------------------------------------------------------


@torch.no_grad()
def test_latent_frame_i_ignores_pixel_frames_after_chunk_i() -> None:
    vae = make_vae()
    torch.manual_seed(1)
    video = torch.rand(1, 3, 13, 16, 16) * 2 - 1  # 1 + 4*3 frames -> 4 latent frames
    base = vae.encode(video)
    assert base.mean.shape[2] == 4
    for i in range(4):
        last = 4 * i  # last pixel frame of chunk i (chunk 0 is frame 0 alone)
        changed = video.clone()
        changed[:, :, last + 1 :] = torch.rand_like(changed[:, :, last + 1 :]) * 2 - 1
        post = vae.encode(changed)
        assert torch.equal(post.mean[:, :, : i + 1], base.mean[:, :, : i + 1]), f"latent frames <= {i}"
        assert torch.equal(post.logvar[:, :, : i + 1], base.logvar[:, :, : i + 1])
        # ...and chunk i's own last frame does reach latent i (the test is not vacuous).
        touched = video.clone()
        touched[:, :, last] = -touched[:, :, last]
        assert not torch.equal(vae.encode(touched).mean[:, :, i], base.mean[:, :, i])


@torch.no_grad()
def test_decoded_frames_ignore_later_latent_frames() -> None:
    vae = make_vae()
    torch.manual_seed(2)
    z = torch.randn(1, 4, 4, 2, 2)
    base = vae.decode(z)
    assert base.shape == (1, 3, 13, 16, 16)
    for i in range(3):
        changed = z.clone()
        changed[:, :, i + 1 :] = torch.randn_like(changed[:, :, i + 1 :])
        out = vae.decode(changed)
        keep = 4 * i + 1  # pixel frames 0 .. 4i depend only on latents 0 .. i
        assert torch.equal(out[:, :, :keep], base[:, :, :keep]), f"pixel frames < {keep}"
        assert not torch.equal(out[:, :, keep:], base[:, :, keep:])


@torch.no_grad()
def test_image_is_a_one_frame_video() -> None:
    vae = make_vae()
    torch.manual_seed(3)
    image = torch.rand(2, 3, 1, 16, 24) * 2 - 1
    post = vae.encode(image)
    assert post.mean.shape == (2, 4, 1, 2, 3)
    assert vae.decode(post.mode()).shape == (2, 3, 1, 16, 24)
    # Causality: the image's latent is the first latent frame of any video it starts. Not
    # bit-exact: a different T can change the conv kernel's blocking and so float rounding.
    video = torch.cat([image, torch.rand(2, 3, 8, 16, 24) * 2 - 1], dim=2)
    torch.testing.assert_close(vae.encode(video).mean[:, :, :1], post.mean, rtol=0, atol=1e-5)


# ---- shapes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compression", "latent_channels", "height", "width"),
    [((4, 8, 8), 8, 16, 24), ((4, 16, 16), 48, 32, 16), ((2, 8, 8), 4, 8, 8)],
)
@pytest.mark.parametrize("k", [0, 1, 2, 4])
@torch.no_grad()
def test_shapes(
    compression: tuple[int, int, int], latent_channels: int, height: int, width: int, k: int
) -> None:
    vae = make_vae(small_cfg(compression, latent_channels))
    tc, s = compression[0], compression[1]
    frames = 1 + tc * k
    expected = (latent_channels, 1 + k, height // s, width // s)
    assert vae.latent_shape(frames, height, width) == expected
    post = vae.encode(torch.zeros(1, 3, frames, height, width))
    assert tuple(post.mean.shape[1:]) == expected
    assert post.mean.shape == post.logvar.shape
    assert vae.decode(post.sample()).shape == (1, 3, frames, height, width)


@torch.no_grad()
def test_forward_returns_reconstruction_and_posterior() -> None:
    vae = make_vae()
    video = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    recon, post = vae(video, sample_posterior=False)
    assert recon.shape == video.shape
    assert isinstance(post, LatentDistribution)
    assert post.kl().shape == (2,)


# ---- thin decoder ------------------------------------------------------------------------------


@torch.no_grad()
def test_thin_decoder_loads_full_encoder() -> None:
    cfg = preset("tiny").vae  # the real tiny widths: cheap enough to build
    full = make_vae(cfg, seed=0)
    thin = make_vae(cfg, thin=True, seed=1)
    full_sd, thin_sd = full.encoder.state_dict(), thin.encoder.state_dict()
    assert {k: v.shape for k, v in full_sd.items()} == {k: v.shape for k, v in thin_sd.items()}
    thin.encoder.load_state_dict(full_sd)  # strict
    assert n_params(thin.decoder) < n_params(full.decoder)
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    z = full.encode(video).mode()
    assert torch.equal(thin.encode(video).mode(), z)
    assert thin.decode(z).shape == video.shape


# ---- latent normalisation ----------------------------------------------------------------------


def test_normalize_uses_config_stats_and_round_trips() -> None:
    mean = (0.5, -1.0, 0.0, 2.0)
    std = (2.0, 0.5, 1.0, 4.0)
    vae = make_vae(small_cfg(latent_mean=mean, latent_std=std))
    z = torch.randn(2, 4, 3, 2, 2)
    zn = vae.normalize(z)
    for c in range(4):
        assert torch.allclose(zn[:, c], (z[:, c] - mean[c]) / std[c])
    assert torch.allclose(vae.denormalize(zn), z, atol=1e-6)
    assert "latent_mean" not in vae.state_dict()  # the config is the single source of the stats


def test_normalize_is_identity_without_stats() -> None:
    vae = make_vae()
    z = torch.randn(1, 4, 2, 2, 2)
    assert torch.equal(vae.normalize(z), z)
    assert torch.equal(vae.denormalize(z), z)


# ---- input validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((1, 3, 2, 16, 16), r"frames.*1 \+ 4k"),
        ((1, 3, 6, 16, 16), r"frames.*1 \+ 4k"),
        ((1, 3, 5, 12, 16), r"height.*multiple of 8"),
        ((1, 3, 5, 16, 20), r"width.*multiple of 8"),
        ((3, 5, 16, 16), "5D"),
        ((1, 4, 5, 16, 16), r"channels.*3"),
    ],
)
def test_encode_rejects_bad_video(shape: tuple[int, ...], match: str) -> None:
    vae = make_vae()
    with pytest.raises(ValueError, match=match):
        vae.encode(torch.zeros(shape))


def test_decode_and_latent_shape_reject_bad_input() -> None:
    vae = make_vae()
    with pytest.raises(ValueError, match=r"channels.*4"):
        vae.decode(torch.zeros(1, 5, 2, 2, 2))
    with pytest.raises(ValueError, match="5D"):
        vae.decode(torch.zeros(4, 2, 2, 2))
    with pytest.raises(ValueError, match="frames"):
        vae.latent_shape(4, 16, 16)
    with pytest.raises(ValueError, match="height"):
        vae.latent_shape(5, 0, 16)


# ---- posterior ---------------------------------------------------------------------------------


def test_sample_is_deterministic_given_a_generator() -> None:
    post = LatentDistribution(torch.randn(2, 4, 3, 2, 2), torch.randn(2, 4, 3, 2, 2))
    a = post.sample(torch.Generator().manual_seed(7))
    b = post.sample(torch.Generator().manual_seed(7))
    c = post.sample(torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(post.mode(), post.mean)


def test_kl_is_zero_for_the_prior_and_positive_otherwise() -> None:
    zeros = torch.zeros(3, 4, 2, 2, 2)
    assert torch.equal(LatentDistribution(zeros, zeros).kl(), torch.zeros(3))
    kl = LatentDistribution(torch.ones(3, 4, 2, 2, 2), zeros).kl()
    assert kl.shape == (3,)
    assert torch.allclose(kl, torch.full((3,), 0.5 * 4 * 2 * 2 * 2))


# ---- production config -------------------------------------------------------------------------


def test_seedance_vae_builds_on_meta() -> None:
    cfg = preset("seedance-1.0").vae
    assert cfg.compression == (4, 16, 16) and cfg.latent_channels == 48
    with torch.device("meta"):
        full = CausalVAE(cfg)
        thin = CausalVAE(cfg, thin_decoder=True)
    enc, dec, thin_dec = n_params(full.encoder), n_params(full.decoder), n_params(thin.decoder)
    print(f"seedance-1.0 VAE: encoder {enc:,}, decoder {dec:,}, thin decoder {thin_dec:,}")
    # Measured at the time of writing: encoder 142,032,480; decoder 188,267,139; thin 139,595,587.
    # Bounds: the 512-wide levels alone hold ~14M parameters per residual block.
    assert 120e6 < enc < 170e6
    assert 160e6 < dec < 220e6
    assert 110e6 < thin_dec < dec
    assert n_params(thin.encoder) == enc
    assert full.latent_shape(121, 480, 864) == (48, 31, 30, 54)

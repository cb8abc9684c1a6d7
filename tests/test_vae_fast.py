"""Fast VAE decoding paths: temporal chunks with a causal cache, spatial tiles with a halo.

The reference ("plain path") is the decoder's module forward, `vae.decoder(z)`. Tolerances
(float32): chunked and tiled-with-default-halo decodes, and `vae.decode` in inference (one chunk
through the streaming code, oneDNN convs on CPU), equal it to atol 1e-5 + rtol 1e-5 (the only
difference is float rounding: other conv kernels, or a different number of frames or pixels
changing their blocking). A halo smaller than the receptive radius is an
approximation with no bound (tested only to differ, so the radius is not vacuous).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from seedance.errors import InvalidRequestError
from seedance.model.bundle import build_bundle
from seedance.model.config import VAEConfig
from seedance.model.pipeline import GenerationRequest, SeedancePipeline
from seedance.model.presets import tiny
from seedance.model.vae import CausalVAE
from seedance.model.vae.streaming import StreamingDecoder, receptive_radius

TOL = {"rtol": 1e-5, "atol": 1e-5}


# A cheap VAE for tiling and memory tests: 2x4x4 compression, 3 levels, 4 channels, one res
# block per decoder level (receptive radius 11 latent pixels, so a 28x28 latent in 14x14 tiles has
# windows cut by the halo, not only by the frame border), cheap enough for large frames.
NARROW = VAEConfig(latent_channels=8, compression=(2, 4, 4), encoder_channels=(4, 4, 4),
                   decoder_channels=(4, 4, 4), thin_decoder_channels=(4, 4, 4), num_res_blocks=0)


def tiny_vae(thin: bool = False, seed: int = 0, cfg: VAEConfig | None = None) -> CausalVAE:
    """A VAE (default: the tiny preset's) with its residual gates opened (alpha ~ 0.5; they start
    at 0, which would silence every residual branch), biases drawn away from zero and convs at unit
    gain (std 1/sqrt(fan_in)), so every layer contributes, activations stay O(1) and a wrong cache
    or halo would show."""
    torch.manual_seed(seed)
    vae = CausalVAE(cfg or tiny().vae, thin_decoder=thin).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in vae.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if p.dim() > 1:
                p.copy_(noise / p[0].numel() ** 0.5)
            else:
                p.copy_(noise * 0.1 + (0.5 if name.endswith("alpha") else 0.0))
    return vae


@pytest.fixture(scope="module")
def vae() -> CausalVAE:
    return tiny_vae()


@pytest.fixture(scope="module")
def narrow() -> CausalVAE:
    return tiny_vae(cfg=NARROW, seed=7)


def latent(t: int, h: int = 3, w: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randn(1, 8, t, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def reference(vae: CausalVAE) -> tuple[torch.Tensor, torch.Tensor]:
    z = latent(5, 2, 3)
    with torch.no_grad():
        return z, vae.decoder(z)


@pytest.mark.parametrize("chunk", [1, 2, 5])
@torch.no_grad()
def test_chunked_decode_equals_full_decode(vae: CausalVAE, reference, chunk: int) -> None:
    z, full = reference
    assert full.shape == (1, 3, 17, 16, 24)
    torch.testing.assert_close(vae.decode_chunked(z, chunk), full, **TOL)


@torch.no_grad()
def test_chunked_decode_of_the_thin_decoder_and_of_a_batch() -> None:
    thin = tiny_vae(thin=True, seed=2)
    z = torch.randn(2, 8, 3, 2, 2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(thin.decode_chunked(z, 2), thin.decoder(z), **TOL)


def test_decode_uses_the_fast_path_only_in_inference(vae: CausalVAE) -> None:
    z = latent(3, 2, 2)
    with torch.no_grad():
        torch.testing.assert_close(vae.decode(z), vae.decoder(z), **TOL)
    z.requires_grad_(True)
    out = vae.decode(z)  # training: the module path, differentiable
    out.square().mean().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


@torch.no_grad()
def test_streaming_yields_the_full_decode_frame_by_frame(vae: CausalVAE) -> None:
    z = latent(5, 2, 2)
    full = vae.decoder(z)
    parts = list(vae.iter_decode(z, 2))
    assert [p.shape[2] for p in parts] == [1 + 4, 8, 4]  # first chunk: frame 0 alone + 1 latent frame
    torch.testing.assert_close(torch.cat(parts, dim=2), full, **TOL)
    # A stream can be reset and reused for a new clip.
    stream = StreamingDecoder(vae.decoder)
    stream.step(z[:, :, :3])
    stream.reset()
    torch.testing.assert_close(torch.cat([stream.step(c) for c in z.split(3, dim=2)], dim=2), full, **TOL)


class LargestTensor(TorchDispatchMode):
    """Records the largest tensor any op produces (numel)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@torch.no_grad()
def test_streaming_memory_is_bounded_by_the_chunk_not_the_clip(narrow: CausalVAE) -> None:
    """The largest intermediate tensor of a streamed decode does not grow with the clip's length,
    while a one-shot decode's grows linearly."""

    def largest(fn) -> int:
        with LargestTensor() as mode:
            fn()
        return mode.largest

    def streamed(t: int) -> int:
        return largest(lambda: [None for _ in narrow.iter_decode(latent(t, 2, 2), 2)])

    short, long = streamed(5), streamed(13)
    assert long == short
    assert largest(lambda: narrow.decoder(latent(13, 2, 2))) > 2 * short


@torch.no_grad()
def test_tiled_decode_with_the_default_halo_equals_full_decode(narrow: CausalVAE) -> None:
    z = latent(2, 28, 28, seed=4)
    full = narrow.decoder(z)
    radius = receptive_radius(narrow.decoder)
    assert radius == 11  # 9.5 latent pixels, rounded up + 1
    assert receptive_radius(tiny_vae().decoder) == 15  # the tiny preset: 13.5, rounded up + 1
    torch.testing.assert_close(narrow.decode_chunked(z, 1, tile=14), full, **TOL)  # 2x2 tiles x 2 chunks


@torch.no_grad()
def test_a_small_halo_is_only_an_approximation(narrow: CausalVAE) -> None:
    z = latent(1, 28, 28, seed=5)
    full = narrow.decoder(z)
    err = (narrow.decode_chunked(z, 1, tile=14, halo=2) - full).abs().max().item()
    assert err > 1e-3


def test_bad_chunk_and_tile_are_rejected(vae: CausalVAE) -> None:
    z = latent(2)
    with pytest.raises(InvalidRequestError, match="decode_chunk"):
        vae.decode_chunked(z, 0)
    with pytest.raises(ValueError, match="tile"):
        vae.decode_chunked(z, 1, tile=0)
    with pytest.raises(InvalidRequestError, match=r"latent\.channels"):
        vae.decode_chunked(torch.zeros(1, 3, 2, 2, 2), 1)


@torch.no_grad()
def test_pipeline_decode_chunk_matches_plain_decode() -> None:
    bundle = build_bundle(tiny(), seed=0)
    z = latent(3, 8, 8, seed=6)  # a normalised latent, as the denoiser returns it (9 frames, 64x64)
    plain = SeedancePipeline(bundle).decode(z)
    chunked = SeedancePipeline(bundle, decode_chunk=1)
    # uint8 frames: equal up to a rounding flip where a value sits on a .5 boundary.
    diff = np.abs(plain.astype(int) - chunked.decode(z).astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    request = GenerationRequest(prompt="a red circle", seed=3, frames=1, steps=1)
    assert chunked.generate(request).metadata["fast_paths"]["decode_chunk"] == 1
    with pytest.raises(InvalidRequestError, match="decode_chunk"):
        SeedancePipeline(bundle, decode_chunk=0)

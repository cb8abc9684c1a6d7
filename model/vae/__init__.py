"""Temporally causal 3D VAE (MAGVIT-v2 / Seedance 1.0 style).

    vae = CausalVAE(cfg)                    # cfg: seedance.model.config.VAEConfig
    z = vae.normalize(vae.encode(video).sample(generator))   # video [B, 3, 1 + tc*k, H, W]
    video = vae.decode(vae.denormalize(z))

Files: causal_conv.py (the causal conv and resampling primitives), blocks.py (residual and
resampling blocks), networks.py (encoder/decoder stacks), distribution.py (the Gaussian
posterior), autoencoder.py (CausalVAE: validation, shapes, latent normalisation).
"""

from .autoencoder import CausalVAE
from .distribution import LatentDistribution

__all__ = ["CausalVAE", "LatentDistribution"]

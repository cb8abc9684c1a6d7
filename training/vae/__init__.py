"""VAE training (L1 + KL + computed perceptual + adversarial) and thin-decoder retraining."""

from seedance.training.vae.train import VAETrainConfig, train_vae

__all__ = ["VAETrainConfig", "train_vae"]

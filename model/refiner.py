"""The refiner: a DiT of the base family that adds detail at high resolution.

Seedance upsamples the base video, encodes it, and channel-concatenates that latent with the
noise; the refiner is initialised from the base model. Our refiner is a SeedanceDiT whose
config has `extra_in_channels = latent_channels` (the upsampled low-res latent). Initialising
from the base copies every weight that exists in both, takes the first `depth` layer pairs,
and zero-initialises the input weights of the new channels, so the initial refiner behaves
exactly like the base model (it ignores the low-res latent until it is trained to use it).
"""

from __future__ import annotations

import torch

from seedance.model.dit import SeedanceDiT


@torch.no_grad()
def copy_truncated(dst: SeedanceDiT, src_state: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> None:
    """Load a deeper DiT's weights into a shallower one of the same width.

    The shallower model's last spatial layer has a kv-only caption stream where the deeper one
    has a full stream at that index: it takes the key/value rows of the QKV projection and the
    attention's shift/scale rows of the modulation (both are the leading/trailing chunks of
    the full tensors, in the order q, k, v and shift, scale, gate, ...)."""
    for name, param in dst.state_dict().items():
        if name in skip or (name.startswith("text_pool.") and name not in src_state):
            continue  # a base saved without the pool: the refiner keeps its fresh (zero-output) one
        src = src_state[name]
        if src.shape != param.shape and name.endswith(("text.qkv.weight", "text.qkv.bias")):
            src = src[src.shape[0] // 3 :]  # drop the query rows
        elif src.shape != param.shape and name.endswith(("text.modulation.weight", "text.modulation.bias")):
            src = src[: param.shape[0]]  # keep shift1, scale1
        param.copy_(src)


@torch.no_grad()
def init_refiner_from_base(refiner: SeedanceDiT, base: SeedanceDiT) -> SeedanceDiT:
    rc, bc = refiner.cfg, base.cfg
    for name in ("hidden_size", "num_heads", "mlp_ratio", "text_dim", "latent_channels", "patch_size", "qk_norm"):
        if getattr(rc, name) != getattr(bc, name):
            raise ValueError(f"refiner.{name} ({getattr(rc, name)}) differs from the base DiT ({getattr(bc, name)})")
    if rc.depth > bc.depth:
        raise ValueError(f"refiner.depth ({rc.depth}) exceeds the base DiT depth ({bc.depth})")
    copy_truncated(refiner, base.state_dict(), skip=("in_proj.weight",))
    # in_proj columns are ordered per patch voxel as [channels x patch]; the base channels come
    # first in the refiner's channel order, so copy them and zero the extra ones.
    patch = rc.patch_size[0] * rc.patch_size[1] * rc.patch_size[2]
    w_ref = refiner.in_proj.weight.view(rc.hidden_size, rc.in_channels, patch)
    w_base = base.in_proj.weight.view(bc.hidden_size, bc.in_channels, patch)
    w_ref.zero_()
    w_ref[:, : bc.in_channels] = w_base
    return refiner

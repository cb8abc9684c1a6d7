"""The DiT's structure: decoupled layers, windowed temporal attention, MM-RoPE, task input."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch
from conftest import randomize_

from seedance.errors import ConfigError
from seedance.model.dit import (
    SeedanceDiT,
    SpatialBlock,
    TemporalBlock,
    TextTokens,
    build_task_input,
    load_dit_weights,
)
from seedance.model.dit.blocks import Rope, window_merge, window_partition
from seedance.model.dit.layers import TokenSumPool, attention
from seedance.model.dit.rope import apply_rope, mm_rope_positions, rope_angles
from seedance.model.presets import seedance_1_0, tiny
from seedance.model.refiner import copy_truncated, init_refiner_from_base

D, HEADS = 32, 2
DIMS = (4, 4, 4, 4)  # (seq, t, h, w) rotary dims for head_dim 16


def single_shot_rope(b: int, grid: tuple[int, int, int], length: int) -> Rope:
    shot = torch.zeros(b, length, dtype=torch.long)
    index = torch.arange(length).expand(b, length)
    mask = torch.ones(b, length, dtype=torch.bool)
    text_pos, video_pos = mm_rope_positions(shot, index, mask, torch.zeros(b, grid[0], dtype=torch.long), grid)
    vc, vs = rope_angles(video_pos, DIMS, 10000.0)
    tc, ts = rope_angles(text_pos, DIMS, 10000.0)
    return Rope(vc, vs, tc, ts)


def text_tokens(b: int, length: int, dim: int, seed: int = 0) -> TextTokens:
    g = torch.Generator().manual_seed(seed)
    return TextTokens(torch.randn(b, length, dim, generator=g), torch.ones(b, length, dtype=torch.bool),
                      torch.zeros(b, length, dtype=torch.long), torch.arange(length).expand(b, length))


def full_temporal_reference(block: TemporalBlock, x, c, rope) -> torch.Tensor:
    """The same layer with plain full attention over every token of every frame."""
    mods = block.video.modulations(c)
    q, k, v = block.video.qkv_heads(x, mods)
    q, k = apply_rope(q, rope.video_cos, rope.video_sin), apply_rope(k, rope.video_cos, rope.video_sin)
    return block.video.finish(x, attention(q, k, v), mods)


@pytest.mark.parametrize("window", [(6, 5), (50, 50)])
def test_windowed_temporal_equals_full_when_window_covers_frame(window):
    grid = (3, 6, 5)
    torch.manual_seed(0)
    block = randomize_(TemporalBlock(D, HEADS, 2.0, True, window), seed=1)
    x, c = torch.randn(2, 90, D), torch.randn(2, D)
    rope = single_shot_rope(2, grid, 4)
    torch.testing.assert_close(block(x, c, rope, grid), full_temporal_reference(block, x, c, rope))


def test_window_order_path_equals_the_partitioned_qkv_path():
    """Windows that tile the frame run the whole block in window order (permute x in and out
    once); it must equal partitioning q, k, v (the path overhanging windows take), per sample."""
    grid, window = (3, 6, 5), (3, 5)  # two windows per frame, no padding
    block = randomize_(TemporalBlock(D, HEADS, 2.0, True, window), seed=3)
    x, c = torch.randn(2, 90, D), torch.randn(2, D)  # two samples: modulations differ per sample
    rope = single_shot_rope(2, grid, 4)
    fast = block(x, c, rope, grid)
    plain = block._forward_padded(x, block.video.modulations(c), rope, grid, window)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)
    assert len(rope._windowed) == 1  # the windowed rotary tables are built once and reused


def test_small_window_is_local_in_space_and_global_in_time():
    grid = (3, 6, 5)
    block = randomize_(TemporalBlock(D, HEADS, 2.0, True, (3, 3)), seed=2)
    x, c = torch.randn(1, 90, D), torch.randn(1, D)
    rope = single_shot_rope(1, grid, 4)
    out = block(x, c, rope, grid).reshape(3, 6, 5, D)
    x2 = x.clone().reshape(3, 6, 5, D)
    x2[0, 0, 0] += torch.randn(D)  # frame 0, top-left corner: window rows 0-2, cols 0-2
    out2 = block(x2.reshape(1, 90, D), c, rope, grid).reshape(3, 6, 5, D)
    changed = (out2 - out).abs().amax(-1) > 1e-6
    assert changed[2, 1, 1], "a later frame in the same window must see the change (full temporal reach)"
    assert not changed[:, 3:, :].any() and not changed[:, :, 3:].any(), "other windows must not"
    full = full_temporal_reference(block, x, c, rope).reshape(3, 6, 5, D)
    assert not torch.allclose(out, full), "a small window must differ from full attention"


def test_window_partition_round_trip_with_padding():
    x = torch.randn(2, 3 * 7 * 5, 4)
    parts = window_partition(x, (3, 7, 5), (4, 2))
    assert parts.shape == (2 * 2 * 3, 3 * 4 * 2, 4)
    torch.testing.assert_close(window_merge(parts, 2, (3, 7, 5), (4, 2)), x)


def test_spatial_layers_never_mix_frames():
    grid = (4, 3, 3)
    block = randomize_(SpatialBlock(D, HEADS, 2.0, True), seed=3)
    x, txt, c = torch.randn(1, 36, D), torch.randn(1, 5, D), torch.randn(1, D)
    mask = torch.ones(1, 5, dtype=torch.bool)
    rope = single_shot_rope(1, grid, 5)
    out, _ = block(x, txt, mask, c, rope, grid)
    x2 = x.clone().reshape(4, 9, D)
    x2[2] += torch.randn(9, D)
    out2, _ = block(x2.reshape(1, 36, D), txt, mask, c, rope, grid)
    diff = (out2 - out).reshape(4, 9, D).abs().amax((1, 2))
    assert diff[2] > 1e-4
    assert torch.all(diff[[0, 1, 3]] == 0)


def test_spatial_layer_ignores_padded_text_and_uses_real_text():
    grid = (2, 3, 3)
    block = randomize_(SpatialBlock(D, HEADS, 2.0, True), seed=4)
    x, txt, c = torch.randn(1, 18, D), torch.randn(1, 6, D), torch.randn(1, D)
    mask = torch.tensor([[True, True, True, True, False, False]])
    rope = single_shot_rope(1, grid, 6)
    out, _ = block(x, txt, mask, c, rope, grid)
    txt2 = txt.clone()
    txt2[0, 5] += torch.randn(D)  # padding
    torch.testing.assert_close(block(x, txt2, mask, c, rope, grid)[0], out)
    txt2[0, 1] += torch.randn(D)  # a real token
    assert not torch.allclose(block(x, txt2, mask, c, rope, grid)[0], out)


def test_temporal_layers_never_see_text():
    cfg = dataclasses.replace(tiny().dit, depth=2)
    dit = randomize_(SeedanceDiT(cfg))
    assert "text" not in inspect.signature(TemporalBlock.forward).parameters
    assert all(name.startswith("video.") for name, _ in dit.temporal[0].named_parameters())
    seen = []
    for block in dit.temporal:
        block.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape))
    x = build_task_input(torch.randn(1, cfg.latent_channels, 2, 4, 4))
    dit(x, torch.rand(1), text_tokens(1, 7, cfg.text_dim))
    assert seen == [torch.Size([1, 2 * 4 * 4, cfg.hidden_size])] * 2  # video tokens only, no text appended


def test_mm_rope_positions_single_shot():
    text_pos, video_pos = mm_rope_positions(
        torch.zeros(1, 4, dtype=torch.long), torch.tensor([[0, 1, 2, 0]]),
        torch.tensor([[True, True, True, False]]), torch.zeros(1, 2, dtype=torch.long), (2, 2, 3))
    assert text_pos[0, :3].tolist() == [[0, 0, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0]]
    assert video_pos.shape == (1, 12, 4)
    assert video_pos[0, 0].tolist() == [3, 0, 0, 0]  # right after the 3-token caption
    assert video_pos[0, -1].tolist() == [3, 1, 1, 2]


def test_mm_rope_places_each_caption_with_its_shot():
    # Captions of lengths 3 and 2; five latent frames: frames 0-1 are shot 0, 2-4 are shot 1.
    shot = torch.tensor([[0, 0, 0, 1, 1]])
    index = torch.tensor([[0, 1, 2, 0, 1]])
    mask = torch.ones(1, 5, dtype=torch.bool)
    frame_shot = torch.tensor([[0, 0, 1, 1, 1]])
    text_pos, video_pos = mm_rope_positions(shot, index, mask, frame_shot, (5, 1, 2))
    # caption 0 at 0..2, shot 0 at 3, a gap as long as caption 1, caption 1 at 6..7, shot 1 at 8
    assert text_pos[0].tolist() == [[0, 0, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0], [6, 2, 0, 0], [7, 2, 0, 0]]
    seq = video_pos[0, :, 0].reshape(5, 2)
    assert seq[:2].eq(3).all() and seq[2:].eq(8).all()
    # each caption is strictly nearer (seq axis) to its own shot's video tokens than to the other's
    for s, (own, other) in enumerate([(3, 8), (8, 3)]):
        cap = text_pos[0, shot[0] == s, 0]
        assert (cap - own).abs().max() < (cap - other).abs().min()
    assert video_pos[0, 4 * 2, 1:].tolist() == [4, 0, 0]


def test_rope_is_relative():
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)
    def score(pq, pk):
        cq, sq = rope_angles(torch.tensor([[pq]]), DIMS, 10000.0)
        ck, sk = rope_angles(torch.tensor([[pk]]), DIMS, 10000.0)
        return (apply_rope(q, cq, sq) * apply_rope(k, ck, sk)).sum()
    torch.testing.assert_close(score([1, 2, 3, 4], [0, 1, 1, 1]), score([11, 5, 7, 9], [10, 4, 5, 6]))


def test_task_input_t2v_and_i2v():
    noisy, cond = torch.randn(1, 8, 3, 2, 2), torch.randn(1, 8, 3, 2, 2)
    t2v = build_task_input(noisy)
    assert t2v.shape[1] == 17 and t2v[:, 8:].abs().sum() == 0
    i2v = build_task_input(noisy, cond, torch.tensor([[1.0, 0.0, 0.0]]))
    torch.testing.assert_close(i2v[:, 8:16, 0], cond[:, :, 0])
    assert i2v[:, 8:16, 1:].abs().sum() == 0  # only the given frame's latent is passed
    assert i2v[:, 16, 0].eq(1).all() and i2v[:, 16, 1:].eq(0).all()


def test_dit_shapes_patchify_and_adaln_zero_init():
    cfg = dataclasses.replace(tiny().dit, depth=1, patch_size=(1, 2, 2))
    dit = SeedanceDiT(cfg)
    x = build_task_input(torch.randn(2, 8, 3, 4, 6))
    out = dit(x, torch.rand(2), text_tokens(2, 5, cfg.text_dim))
    assert out.shape == (2, 8, 3, 4, 6)
    assert out.abs().max() == 0  # adaLN-Zero: an untrained DiT predicts zero velocity
    torch.testing.assert_close(dit.unpatchify(dit.patchify(x), dit.token_grid(3, 4, 6)), x)
    with pytest.raises(ValueError, match="channels"):
        dit(torch.randn(1, 9, 1, 4, 4), torch.rand(1), text_tokens(1, 2, cfg.text_dim))


def test_refiner_initialised_from_base_matches_base():
    cfg = tiny()
    base = randomize_(SeedanceDiT(cfg.dit), seed=5)
    refiner = init_refiner_from_base(SeedanceDiT(cfg.refiner), base)
    noisy = torch.randn(1, 8, 2, 4, 4)
    text = text_tokens(1, 4, cfg.dit.text_dim)
    t = torch.tensor([0.7])
    base_cut = SeedanceDiT(dataclasses.replace(cfg.dit, depth=cfg.refiner.depth))
    copy_truncated(base_cut, base.state_dict())
    expected = base_cut(build_task_input(noisy), t, text)
    got = refiner(build_task_input(noisy, extra=torch.randn(1, 8, 2, 4, 4)), t, text)
    torch.testing.assert_close(got, expected)


def test_last_spatial_layer_caption_only_lends_keys_and_values():
    cfg = dataclasses.replace(tiny().dit, depth=2)
    dit = randomize_(SeedanceDiT(cfg))
    last, first = dit.spatial[-1].text, dit.spatial[0].text
    assert last.kv_only and not first.kv_only and not hasattr(last, "mlp")
    x = build_task_input(torch.randn(1, cfg.latent_channels, 2, 4, 4))
    text = text_tokens(1, 5, cfg.text_dim)
    dit(x, torch.rand(1), text).square().mean().backward()
    no_grad = [n for n, p in dit.named_parameters() if p.grad is None]
    assert no_grad == [], no_grad  # every parameter is used (DDP needs this)


def test_seedance_preset_builds_on_meta_device():
    with torch.device("meta"):
        dit = SeedanceDiT(seedance_1_0().dit)
    n = sum(p.numel() for p in dit.parameters())
    assert 9.5e9 < n < 11e9, n
    assert dit.in_proj.weight.shape == (3072, 97)  # 48 noisy + 48 condition + 1 mask, no patchify


def test_pooled_caption_starts_silent_then_steers_every_layer():
    """pooled_text adds an attention-pooled caption to the adaLN conditioning: a fresh pool adds
    nothing (same output as the DiT without it), a trained one makes the output depend on the
    caption through adaLN alone (here the joint attention's caption values are cut to zero)."""
    cfg = dataclasses.replace(tiny().dit, depth=2, pooled_text=False)
    plain = randomize_(SeedanceDiT(cfg), seed=3)
    pooled = SeedanceDiT(dataclasses.replace(cfg, pooled_text=True))
    assert load_dit_weights(pooled, plain.state_dict()) == [n for n in pooled.state_dict() if n.startswith("text_pool.")]
    x = build_task_input(torch.randn(2, cfg.latent_channels, 2, 4, 4))
    t = torch.tensor([0.3, 0.8])
    text = text_tokens(2, 5, cfg.text_dim)
    torch.testing.assert_close(pooled(x, t, text), plain(x, t, text))

    randomize_(pooled.text_pool, seed=4, std=0.3)
    with torch.no_grad():
        for block in pooled.spatial:  # the caption's values no longer reach the video tokens
            rows = slice(2 * cfg.hidden_size, None) if not block.text.kv_only else slice(cfg.hidden_size, None)
            block.text.qkv.weight[rows] = 0
            block.text.qkv.bias[rows] = 0
    other = text_tokens(2, 5, cfg.text_dim, seed=9)
    assert (pooled(x, t, text) - pooled(x, t, other)).abs().max() > 1e-3
    # A sample whose caption has no real tokens pools to zero, not NaN.
    empty = TextTokens(text.hidden, torch.zeros_like(text.mask), text.shot, text.index)
    assert torch.isfinite(pooled.text_pool(text.hidden[..., : cfg.hidden_size], empty.mask)).all()


def test_sum_pool_adds_one_vector_per_word():
    """text_pool = "sum": each real token adds its own learned vector (a bag of words), so the
    pool ignores order and padding, changes when one word changes, and is live from the first
    step (words differ before training); loaded over weights saved without a pool it starts
    silent, so the DiT predicts what it did."""
    cfg = dataclasses.replace(tiny().dit, depth=1, pooled_text=True, text_pool="sum")
    dit = SeedanceDiT(cfg)
    pool = dit.text_pool
    assert isinstance(pool, TokenSumPool)
    txt = torch.randn(1, 6, cfg.hidden_size)
    mask = torch.ones(1, 6, dtype=torch.bool)
    with torch.no_grad():
        base = pool(txt, mask)
        torch.testing.assert_close(pool(txt.flip(1), mask), base)  # order does not matter
        padded = torch.cat([txt, torch.randn(1, 3, cfg.hidden_size)], 1)
        torch.testing.assert_close(pool(padded, torch.cat([mask, torch.zeros(1, 3, dtype=torch.bool)], 1)), base)
        one_word = txt.clone()
        one_word[0, 2] = torch.randn(cfg.hidden_size)
        assert (pool(one_word, mask) - base).norm() > 0.05 * base.norm()  # a fresh pool already tells words apart
        assert torch.equal(pool(txt, torch.zeros_like(mask)), torch.zeros(1, cfg.hidden_size))

    plain = randomize_(SeedanceDiT(dataclasses.replace(cfg, pooled_text=False)), seed=3)
    assert load_dit_weights(dit, plain.state_dict()) == [n for n in dit.state_dict() if n.startswith("text_pool.")]
    x = build_task_input(torch.randn(2, cfg.latent_channels, 2, 4, 4))
    t = torch.tensor([0.3, 0.8])
    text = text_tokens(2, 5, cfg.text_dim)
    torch.testing.assert_close(dit(x, t, text), plain(x, t, text))


def test_text_pool_must_be_known():
    with pytest.raises(ConfigError, match=r"dit\.text_pool: must be one of attention, sum, got 'max'"):
        dataclasses.replace(tiny().dit, text_pool="max")


def test_load_dit_weights_refuses_other_mismatches():
    cfg = dataclasses.replace(tiny().dit, depth=1, pooled_text=False)
    state = SeedanceDiT(cfg).state_dict()
    pooled = SeedanceDiT(dataclasses.replace(cfg, pooled_text=True))
    with pytest.raises(RuntimeError, match=r"in_proj\.weight"):
        load_dit_weights(pooled, {k: v for k, v in state.items() if k != "in_proj.weight"})
    with pytest.raises(RuntimeError, match="text_pool"):  # a pool the DiT was not built with
        load_dit_weights(SeedanceDiT(cfg), pooled.state_dict())

"""Prepared training data: VAE latents and caption embeddings, computed once, offline.

Seedance computes captions and VAE latents before training; DiT training then never runs the
VAE or the text encoder. A prepared dataset is a directory:

    meta.json              {"count", "latent_shape", "text_dim", "max_text_len", "fps", "source", ...}
    latents.safetensors    latents [N, C, t, h, w] (normalised, fp16)
    text.safetensors       hidden [M, L, D] (fp16), mask [M, L]: one row per caption
                           captions [N, K, 2]: (first row, row count) of each caption kind per item
                           frame_shot [N, t]: shot id of each latent frame
                           motion [N]: 1 if the clip moves (for continue-training's motion subset)
                           uncond_hidden [1, L, D], uncond_mask [1, L]: the empty caption
    lowres.safetensors     (refiner data only) lowres [N, C, t, h, w]: the latent of the clip
                           rendered at the base resolution and upsampled to this one

Caption kinds (K) are `CAPTION_KINDS`: per-shot dense captions in English and Chinese, and the
I2V (motion-only) caption in each language. All items of one directory share a latent shape
(a bucket); different resolutions or lengths go to different directories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from seedance.errors import SeedanceError

CAPTION_KINDS = ("t2v_en", "t2v_zh", "i2v_en", "i2v_zh")


class DatasetError(SeedanceError):
    """A prepared dataset is missing, empty or inconsistent."""


@dataclass
class PreparedItem:
    latent: torch.Tensor  # [C, t, h, w]
    captions: dict[str, list[int]]  # kind -> caption row ids (one per shot for t2v kinds)
    frame_shot: torch.Tensor  # [t]
    moving: bool


class LatentDatasetWriter:
    """Accumulates items in memory (prepared sets are small per bucket) and writes them at once."""

    def __init__(self, text_dim: int, max_text_len: int):
        self.text_dim, self.max_len = text_dim, max_text_len
        self.latents: list[torch.Tensor] = []
        self.rows: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.captions: list[list[tuple[int, int]]] = []
        self.frame_shots: list[torch.Tensor] = []
        self.motion: list[int] = []
        self.lowres: list[torch.Tensor] = []
        self.uncond: tuple[torch.Tensor, torch.Tensor] | None = None

    def _row(self, hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = min(hidden.shape[0], self.max_len)
        h = torch.zeros(self.max_len, self.text_dim, dtype=torch.float16)
        m = torch.zeros(self.max_len, dtype=torch.bool)
        h[:length], m[:length] = hidden[:length].to(torch.float16), mask[:length].bool()
        return h, m

    def set_uncond(self, hidden: torch.Tensor, mask: torch.Tensor) -> None:
        self.uncond = self._row(hidden, mask)

    def add(self, latent: torch.Tensor, captions: dict[str, list[tuple[torch.Tensor, torch.Tensor]]],
            frame_shot: torch.Tensor, moving: bool, lowres: torch.Tensor | None = None) -> None:
        """captions: kind -> [(hidden [L, D], mask [L]) per shot]; every kind in CAPTION_KINDS.
        lowres: the refiner's condition latent (same shape as `latent`), for every item or none."""
        if (lowres is None) != (not self.lowres) and self.latents:
            raise DatasetError("lowres latents must be given for every item of a bucket or for none")
        if self.latents and latent.shape != self.latents[0].shape:
            raise DatasetError(f"latent shape {tuple(latent.shape)} differs from the bucket's "
                               f"{tuple(self.latents[0].shape)}")
        spans = []
        for kind in CAPTION_KINDS:
            rows = captions[kind]
            spans.append((len(self.rows), len(rows)))
            self.rows.extend(self._row(h, m) for h, m in rows)
        self.latents.append(latent.to(torch.float16).cpu())
        self.captions.append(spans)
        self.frame_shots.append(frame_shot.long().cpu())
        self.motion.append(int(moving))
        if lowres is not None:
            self.lowres.append(lowres.to(torch.float16).cpu())

    def write(self, directory: Path, meta: dict | None = None) -> Path:
        if not self.latents or self.uncond is None:
            raise DatasetError("nothing to write (no items, or no unconditional caption)")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"latents": torch.stack(self.latents)}, directory / "latents.safetensors")
        save_file({
            "hidden": torch.stack([h for h, _ in self.rows]),
            "mask": torch.stack([m for _, m in self.rows]),
            "captions": torch.tensor(self.captions, dtype=torch.long),
            "frame_shot": torch.stack(self.frame_shots),
            "motion": torch.tensor(self.motion, dtype=torch.long),
            "uncond_hidden": self.uncond[0][None], "uncond_mask": self.uncond[1][None],
        }, directory / "text.safetensors")
        if self.lowres:
            save_file({"lowres": torch.stack(self.lowres)}, directory / "lowres.safetensors")
        info = {"count": len(self.latents), "latent_shape": list(self.latents[0].shape),
                "text_dim": self.text_dim, "max_text_len": self.max_len, "caption_kinds": list(CAPTION_KINDS),
                **(meta or {})}
        (directory / "meta.json").write_text(json.dumps(info, indent=2) + "\n")  # last: marks completion
        return directory


class BucketWriters:
    """One LatentDatasetWriter per clip shape, all sharing the empty caption; written as
    OUT/<bucket>/ folders (the layout LatentBuckets reads)."""

    def __init__(self, text_dim: int, max_text_len: int, uncond: tuple[torch.Tensor, torch.Tensor]):
        self.text_dim, self.max_len, self.uncond = text_dim, max_text_len, uncond
        self.writers: dict[str, LatentDatasetWriter] = {}

    def bucket(self, name: str) -> LatentDatasetWriter:
        if name not in self.writers:
            self.writers[name] = LatentDatasetWriter(text_dim=self.text_dim, max_text_len=self.max_len)
            self.writers[name].set_uncond(*self.uncond)
        return self.writers[name]

    def __bool__(self) -> bool:
        return bool(self.writers)

    def write(self, out: Path, meta: dict) -> Path:
        for name, writer in self.writers.items():
            writer.write(Path(out) / name, meta)
        return Path(out)


class LatentDataset:
    """A prepared directory, loaded fully into memory (tiny/small scale)."""

    def __init__(self, directory: Path):
        directory = Path(directory)
        meta_path = directory / "meta.json"
        if not meta_path.is_file():
            raise DatasetError(f"{directory}: not a prepared dataset (no meta.json)")
        self.meta = json.loads(meta_path.read_text())
        self.latents = load_file(directory / "latents.safetensors")["latents"]
        text = load_file(directory / "text.safetensors")
        self.hidden, self.mask = text["hidden"], text["mask"]
        self.captions, self.frame_shot, self.motion = text["captions"], text["frame_shot"], text["motion"]
        self.uncond_hidden, self.uncond_mask = text["uncond_hidden"], text["uncond_mask"]
        lowres = directory / "lowres.safetensors"
        self.lowres = load_file(lowres)["lowres"] if lowres.is_file() else None
        if len(self.latents) != self.meta["count"] or len(self.latents) == 0:
            raise DatasetError(f"{directory}: meta.json says {self.meta['count']} items, found {len(self.latents)}")

    def __len__(self) -> int:
        return len(self.latents)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return tuple(self.latents.shape[1:])

    def caption_rows(self, index: int, kind: str) -> list[int]:
        start, count = self.captions[index, CAPTION_KINDS.index(kind)].tolist()
        return list(range(start, start + count))

    def moving_indices(self) -> list[int]:
        return [i for i in range(len(self)) if int(self.motion[i])]


def bucket_dirs(path: Path) -> list[Path]:
    """A prepared dataset folder is one bucket (has meta.json) or a folder of buckets."""
    path = Path(path)
    if (path / "meta.json").is_file():
        return [path]
    found = sorted(p.parent for p in path.glob("*/meta.json"))
    if not found:
        raise DatasetError(f"{path}: no prepared dataset (no meta.json here or in its subfolders)")
    return found


class LatentBuckets:
    """Several prepared buckets addressed by one global index (bucket b's items follow bucket b-1's).

    `motion_only` keeps only clips that move (continue-training's higher-motion subset)."""

    def __init__(self, path: Path, motion_only: bool = False):
        self.buckets = [LatentDataset(d) for d in bucket_dirs(path)]
        self.items = [b.moving_indices() if motion_only else list(range(len(b))) for b in self.buckets]
        if not all(self.items):
            raise DatasetError(f"{path}: a bucket has no {'moving ' if motion_only else ''}clips")
        self.offsets = [sum(len(i) for i in self.items[:b]) for b in range(len(self.items))]
        first = self.buckets[0]
        for b in self.buckets[1:]:
            if b.meta["text_dim"] != first.meta["text_dim"] or b.latent_shape[0] != first.latent_shape[0]:
                raise DatasetError(f"{path}: buckets disagree on text_dim or latent channels")

    @property
    def sizes(self) -> list[int]:
        return [len(i) for i in self.items]

    @property
    def meta(self) -> dict:
        return self.buckets[0].meta

    @property
    def latent_channels(self) -> int:
        return self.buckets[0].latent_shape[0]

    def locate(self, indices: list[int]) -> tuple[LatentDataset, list[int]]:
        """The bucket holding a batch and the batch's item ids in it (a batch never spans buckets)."""
        b = max(k for k, off in enumerate(self.offsets) if off <= indices[0])
        local = [self.items[b][i - self.offsets[b]] for i in indices]
        if any(not 0 <= i - self.offsets[b] < self.sizes[b] for i in indices):
            raise DatasetError("a batch spans several buckets")
        return self.buckets[b], local

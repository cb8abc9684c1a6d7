"""Raw videos -> clips + manifest: the whole data-preparation run (see docs/DATA.md).

  list sources (driver) -> scan each video (runner: decode, shots, cut, features, static filter,
  sidecar caption) -> near-duplicate removal (driver: it needs every clip's embedding) -> write
  each video's surviving clips (runner: captioner, MP4s) -> manifest.jsonl, embeddings.npy and
  report.json (driver, atomic).

Output folder:
  clips/<id>.mp4     the kept clips (H.264, the source's frame rate and size, cropped to even)
  manifest.jsonl     one row per kept clip (fields in docs/DATA.md), ordered by source and start
  embeddings.npy     float32 [kept, D]: row `embedding_id` of a manifest row is its embedding
  report.json        counts per step, every skipped video and every dropped clip with its reason
The manifest is the truth: a clip file that no row names (from an earlier run) is not data.
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seedance.model.media import atomic_path
from seedance.training.data.latents import DatasetError

from .captions import Captioner
from .features import near_duplicates
from .runner import make_runner
from .sources import list_sources
from .stages import PrepConfig, scan_source, write_source

MANIFEST = "manifest.jsonl"
REPORT = "report.json"
EMBEDDINGS = "embeddings.npy"
DROP_STEPS = ("short", "static", "uncaptioned", "duplicate", "failed")
# Per-clip working fields that do not belong in the manifest.
_INTERNAL = ("type", "drop", "reason", "embedding", "duplicate_of")


@dataclass(frozen=True)
class PrepResult:
    out: Path
    manifest: Path
    report: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return self.report["counts"]

    def summary(self) -> str:
        c = self.counts
        return (f"video_prep: {c['input_videos']} videos ({c['corrupt_skipped']} corrupt, "
                f"{c['failed_videos']} failed), {c['shots_found']} shots, {c['clips_cut']} clips cut -> "
                f"{c['kept']} kept (dropped: {c['dropped_short']} short, {c['dropped_static']} static, "
                f"{c['dropped_uncaptioned']} uncaptioned, {c['dropped_duplicate']} duplicate, "
                f"{c['dropped_failed']} failed) in {self.report['seconds']:.1f}s [{self.report['runner']}] "
                f"-> {self.manifest}")


def _dedup(candidates: list[dict[str, Any]], threshold: float) -> None:
    """Mark near-duplicates in place (drop="duplicate"), keeping each cluster's best clip."""
    if not candidates:
        return
    emb = np.asarray([r["embedding"] for r in candidates], dtype=np.float32)
    dup_of = near_duplicates(emb, [r["quality"] for r in candidates], threshold)
    for i, j in enumerate(dup_of):
        if j is not None:
            leader = candidates[j]
            sim = float(emb[i] @ emb[j])
            candidates[i].update(drop="duplicate", duplicate_of=leader["id"],
                                 reason=f"near-duplicate of {leader['id']} from {leader['source']} "
                                        f"(cosine {sim:.3f}); quality {candidates[i]['quality']:.1f} "
                                        f"<= {leader['quality']:.1f}")


def _write_outputs(out: Path, kept: list[dict[str, Any]], report: dict[str, Any]) -> Path:
    emb = np.asarray([r["embedding"] for r in kept], dtype=np.float32).reshape(len(kept), -1)
    with atomic_path(out / EMBEDDINGS) as tmp:
        np.save(tmp, emb)
    lines = []
    for i, r in enumerate(kept):
        row = {k: v for k, v in r.items() if k not in _INTERNAL}
        row.update(embedding_id=i, shots=[[0, r["frames"]]])  # one shot per clip (cut at shots)
        lines.append(json.dumps(row, ensure_ascii=False))
    manifest = out / MANIFEST
    with atomic_path(manifest) as tmp:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with atomic_path(out / REPORT) as tmp:  # last: a report means the run finished
        tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def prepare_videos(input_uri: str | Path, out: str | Path, cfg: PrepConfig | None = None,
                   captioner: Captioner | None = None, use_ray: bool = False, progress: bool = True,
                   ray_address: str | None = None) -> PrepResult:
    """Prepare every video under `input_uri` (a directory or s3://bucket/prefix) into `out`.
    Raises DatasetError when the input has no videos or nothing usable survives."""
    cfg = cfg or PrepConfig()
    start = time.perf_counter()
    out = Path(out).resolve()  # workers write here, whatever their working directory
    items = list_sources(str(input_uri), exclude=out)
    out.mkdir(parents=True, exist_ok=True)
    runner = make_runner(use_ray, progress, ray_address)
    with runner:
        scan = functools.partial(scan_source, cfg=cfg, has_captioner=captioner is not None)
        scanned = runner.flat_map(scan, [i.to_dict() for i in items], "scan")
        sources = sorted((r for r in scanned if r["type"] == "source"), key=lambda r: r["source"])
        clips = sorted((r for r in scanned if r["type"] == "clip"), key=lambda r: (r["source"], r["start"]))
        _dedup([r for r in clips if r["drop"] is None], cfg.duplicate_threshold)
        by_id = {r["id"]: r for r in clips}
        groups = []
        for item in items:
            mine = [{k: v for k, v in r.items() if k != "embedding"}  # embeddings stay on the driver
                    for r in clips if r["source"] == item.name and r["drop"] is None]
            if mine:
                groups.append({"item": item.to_dict(), "clips": mine})
        write = functools.partial(write_source, cfg=cfg, captioner=captioner, out_dir=str(out))
        for row in runner.flat_map(write, groups, "write"):
            by_id[row["id"]].update(row)
    for r in clips:
        if r["drop"] == "duplicate":
            by_id[r["duplicate_of"]].setdefault("duplicates", []).append(r["id"])
    kept = [r for r in clips if r["drop"] is None]
    drops = Counter(r["drop"] for r in clips if r["drop"] is not None)
    status = Counter(s["status"] for s in sources)
    counts = {
        "input_videos": len(items),
        "corrupt_skipped": status["corrupt"],
        "failed_videos": status["failed"],
        "shots_found": sum(len(s["shots"]) for s in sources if s["status"] == "ok"),
        "clips_cut": len(clips),
        **{f"dropped_{step}": drops[step] for step in DROP_STEPS},
        "kept": len(kept),
    }
    report = {
        "input": str(input_uri), "out": str(out), "runner": runner.name, "config": asdict(cfg),
        "captioner": getattr(captioner, "name", None), "counts": counts,
        "seconds": round(time.perf_counter() - start, 3),
        "sources": [{k: v for k, v in s.items() if k != "type"} for s in sources],
        "rejected": [{"id": r["id"], "source": r["source"], "start": r["start"], "end": r["end"],
                      "step": r["drop"], "reason": r["reason"]} for r in clips if r["drop"] is not None],
    }
    if not kept:
        _write_outputs(out, kept, report)
        raise DatasetError(f"{input_uri}: no clip survived preparation ({json.dumps(counts)}); see {out / REPORT}")
    return PrepResult(out, _write_outputs(out, kept, report), report)

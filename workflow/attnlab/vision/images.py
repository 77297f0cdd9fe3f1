"""Generated images on disk: one PNG per image and a Parquet index (DESIGN: images as PNG with a
Parquet index), written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from attnlab import AttnlabError
from attnlab.io import atomic_dir, read_parquet, write_parquet
from attnlab.world.render import from_png, to_png

INDEX = "index.parquet"


def decode_png(data: bytes, where: str = "") -> np.ndarray:
    try:
        return from_png(data)
    except Exception as e:  # PIL raises several types for corrupt data
        raise AttnlabError(f"{where or 'an image'}: cannot decode: {e}") from e


def write_image_dir(path: str | Path, records: list[dict]) -> None:
    """Each record holds `image` (H, W, 3 uint8) and JSON-safe metadata; the PNG file name is
    recorded in the index's `file` column."""
    rows = []
    with atomic_dir(path) as tmp:
        for i, rec in enumerate(records):
            rec = dict(rec)
            name = f"{i:05d}.png"
            (tmp / name).write_bytes(to_png(rec.pop("image")))
            rows.append({"file": name, **rec})
        write_parquet(tmp / INDEX, pd.DataFrame(rows))


def read_image_dir(path: str | Path, load: bool = True) -> pd.DataFrame:
    """The index of an image directory, with the decoded images in column `image` if `load`."""
    path = Path(path)
    if not (path / INDEX).is_file():
        raise AttnlabError(f"{path}: not an image directory (no {INDEX})")
    df = read_parquet(path / INDEX)
    if load:
        images = []
        for name in df["file"]:
            f = path / name
            if not f.is_file():
                raise AttnlabError(f"{f}: listed in {path / INDEX} but missing")
            images.append(decode_png(f.read_bytes(), str(f)))
        df["image"] = images
    return df


def read_image_dirs(paths: list[str], step: str) -> pd.DataFrame:
    """Several image directories (one per seed) as one frame."""
    if not paths:
        raise AttnlabError(f"{step}: no image directories")
    return pd.concat([read_image_dir(p) for p in paths], ignore_index=True)


def for_seed(df: pd.DataFrame, seed_index: int) -> pd.DataFrame:
    """The rows of one seed of a synthesised table (each seed draws its own cases, pairs or prompts,
    marked by a `seed_index` column); a table without that column (real data) is every seed's."""
    if "seed_index" not in df.columns:
        return df.reset_index(drop=True)
    return df[df["seed_index"] == int(seed_index)].reset_index(drop=True)

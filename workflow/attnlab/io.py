"""Atomic, validated reads and writes: no half-written file ever sits under its final name."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from attnlab import AttnlabError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; outputs are ordinary files
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory; on success move each file it holds into `path`.

    Files are moved one by one with os.replace, so each lands whole; the caller lists the
    most important file (e.g. the weights) last among the rule's outputs.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=path))
    try:
        yield tmp
        for item in sorted(tmp.iterdir(), key=lambda p: p.suffix == ".safetensors"):
            os.replace(item, path / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj):
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def read_json(path) -> Any:
    """The JSON in `path`; an AttnlabError that starts with the file names what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise AttnlabError(f"{path}: missing input file")
    try:
        return json.loads(path.read_text())
    except UnicodeDecodeError:
        raise AttnlabError(f"{path}: not a text file (corrupt JSON file)") from None
    except json.JSONDecodeError as e:
        raise AttnlabError(f"{path}: corrupt JSON file, truncated or not JSON "
                           f"({e.msg} at line {e.lineno}, column {e.colno})") from None


def write_parquet(path, df) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def read_parquet(path, columns=None):
    """The frame in the Parquet file `path`, which must hold at least `columns` (if given).

    A missing, truncated or corrupt file, or one without the expected columns, is an
    AttnlabError that starts with the file (`<file>: missing columns a, b (it has x, y)`), not a
    KeyError far from the read. Every column is read; `columns` only states what must be there."""
    import pandas as pd
    import pyarrow

    path = Path(path)
    if not path.is_file():
        raise AttnlabError(f"{path}: missing input file")
    try:
        df = pd.read_parquet(path)
    except (pyarrow.ArrowException, OSError, ValueError) as e:
        raise AttnlabError(f"{path}: corrupt or truncated Parquet file ({e})") from None
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise AttnlabError(f"{path}: missing columns {', '.join(map(str, missing))} (it has "
                               f"{', '.join(map(str, df.columns)) or 'no columns'})")
    return df


def read_parquets(paths, columns=None, what: str = "input"):
    """The Parquet files `paths` (each holding `columns`) concatenated in order; an AttnlabError
    when there are none (`what` names the missing inputs in that message)."""
    import pandas as pd

    paths = list(paths)
    if not paths:
        raise AttnlabError(f"no {what} files to read")
    return pd.concat([read_parquet(p, columns) for p in paths], ignore_index=True)


def write_jsonl_line(fh, obj: dict) -> None:
    fh.write(json.dumps(obj, default=_json_default) + "\n")
    fh.flush()


"""In-context linear regression prompts (arXiv 2503.12734, Sec. 2):

    x_l, x_q ~ N(0, I_d),  β ~ N(0, I_d / d),  y = βᵀx + ε,  ε ~ N(0, σ²).

A prompt holds L context tokens z_l = [x_l; y_l] and a query z_q = [x_q; 0]; the model
predicts y_q. Training draws a fresh batch every step (train.py); this step writes the fixed
test prompts, one set per test length, as long-format Parquet (one row per token).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from attnlab.cli import StepArgs, run_step
from attnlab.io import write_parquet


def sample_prompts(rng: np.random.Generator, n: int, length: int, d: int, noise_var: float,
                   dtype=np.float64):
    """n prompts of `length` context tokens plus one query (the last position).
    Returns x (n, L+1, d), y (n, L+1) and the task vectors β (n, d)."""
    x = rng.standard_normal((n, length + 1, d), dtype=dtype)
    beta = rng.standard_normal((n, d), dtype=dtype) / dtype(np.sqrt(d))
    noise = rng.standard_normal((n, length + 1), dtype=dtype) * dtype(np.sqrt(noise_var))
    y = (x @ beta[:, :, None])[..., 0] + noise
    return x, y, beta


def to_frame(x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    n, T, d = x.shape
    cols = {
        "length": np.full(n * T, T - 1, dtype=np.int16),
        "prompt": np.repeat(np.arange(n, dtype=np.int32), T),
        "position": np.tile(np.arange(T, dtype=np.int16), n),
        "y": y.reshape(-1).astype(np.float32),
    }
    cols.update({f"x{i}": x[..., i].reshape(-1).astype(np.float32) for i in range(d)})
    return pd.DataFrame(cols)


def from_frame(df: pd.DataFrame, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The test prompts of one length back as x (n, L+1, d) and y (n, L+1), float64."""
    part = df[df["length"] == length].sort_values(["prompt", "position"])
    if part.empty:
        raise ValueError(f"no test prompts of length {length}")
    d = sum(c.startswith("x") for c in df.columns)
    T = length + 1
    x = part[[f"x{i}" for i in range(d)]].to_numpy(np.float64).reshape(-1, T, d)
    y = part["y"].to_numpy(np.float64).reshape(-1, T)
    return x, y


def synthesize(d: int, lengths: list[int], n_prompts: int, noise_var: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = [to_frame(*sample_prompts(rng, n_prompts, L, d, noise_var)[:2]) for L in lengths]
    return pd.concat(frames, ignore_index=True)


def main(args: StepArgs) -> None:
    p = args.params
    df = synthesize(p["d"], p["test_lengths"], p["n_test"], p["noise_var"], p["seed"])
    write_parquet(args.output("data"), df)


if __name__ == "__main__":
    run_step(main, description=__doc__)

"""Paths and params of the vision track's shared steps (read at parse time): the world training
set, the text-to-image model every vision experiment samples from, and the params of a generation
step with consistency attention."""

from __future__ import annotations

from pathlib import Path

from attnlab.seeds import derive_seed

TRAIN_DATA = "results/vision/data/train.parquet"
TRAINED_MODEL = "results/vision/model"
VISION_EXPERIMENTS = ("image_world", "ir_diffusion", "mucr", "envision")


def model_dir(vision: dict) -> str:
    """The pipeline directory generation loads: a local Stable Diffusion directory when
    `vision.model.path` is set, else the tiny model the workflow trains."""
    return vision["model"].get("path") or TRAINED_MODEL


def uses_trained_model(vision: dict) -> bool:
    return not vision["model"].get("path")


def check_model_path(vision: dict) -> None:
    """A configured local pipeline directory must exist and hold the SD layout (checked before
    any job starts; the loader checks the components again)."""
    path = vision["model"].get("path")
    if not path:
        return
    p = Path(path)
    if not p.is_dir():
        raise ValueError(f"vision.model.path: {path!r} is not a directory")
    missing = [s for s in ("unet", "text_encoder", "tokenizer", "scheduler") if not (p / s).is_dir()]
    if missing:
        raise ValueError(f"vision.model.path: {path!r} lacks the Stable Diffusion subfolder(s) "
                         f"{', '.join(missing)}")


def data_params(vision: dict, base_seed: int) -> dict:
    return {"n": vision["model"]["train_images"], "size": vision["image_size"],
            "seed": derive_seed(base_seed, "vision", "train_data")}


def train_params(vision: dict, base_seed: int) -> dict:
    m = vision["model"]
    return {"model": {**m["architecture"], "image_size": vision["image_size"]}, "steps": m["steps"],
            "batch_size": m["batch_size"], "lr": m["lr"], "ema_decay": m["ema_decay"],
            "caption_dropout": m["caption_dropout"], "snr_gamma": m.get("snr_gamma"),
            "seed": derive_seed(base_seed, "vision", "model")}


def sampling_params(vision: dict) -> dict:
    return dict(vision["sampling"])


def sample_dirs(exp: str, cfg: dict) -> list[str]:
    """The image directory of every seed of a vision experiment."""
    return [f"results/{exp}/images/seed{s}" for s in range(cfg["seeds"])]


def check_real_path(exp: str, cfg: dict, kind: str) -> None:
    """experiments.<exp>.real_path, when set, must be a file (checked before any job starts)."""
    path = cfg.get("real_path")
    if path and not Path(path).is_file():
        raise ValueError(f"experiments.{exp}.real_path: {path!r} is not a file ({kind})")


def consistency_params(exp: str, cfg: dict, vision: dict, base_seed: int, seed: int) -> dict:
    """Params of a generation step with consistency attention (ir_diffusion, mucr, envision)."""
    return {"layers": cfg["layers"], "token_dropout": cfg["token_dropout"], "ref_bias": cfg["ref_bias"],
            "seed_index": seed, "seed": derive_seed(base_seed, exp, "generate", seed),
            **sampling_params(vision)}

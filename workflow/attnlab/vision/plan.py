"""Paths and params of the vision track's shared steps (read at parse time): the world training
set, the text-to-image model every vision experiment samples from, and the params of a generation
step with consistency attention."""

from __future__ import annotations

from pathlib import Path

from attnlab.config import ConfigError
from attnlab.experiment import Context, Step, stacked_step
from attnlab.seeds import derive_seed

TRAIN_DATA = "results/vision/data/train.parquet"
# image_world's evaluate step writes the track's competence gate here (attnlab.image_world.evaluate)
COMPETENCE = "results/image_world/metrics/competence.json"
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
        raise ConfigError(f"vision.model.path: {path!r} is not a directory")
    missing = [s for s in ("unet", "text_encoder", "tokenizer", "scheduler") if not (p / s).is_dir()]
    if missing:
        raise ConfigError(f"vision.model.path: {path!r} lacks the Stable Diffusion subfolder(s) "
                         f"{', '.join(missing)}")


def world_params(vision: dict) -> dict:
    """The world settings every step that draws random scenes applies (attnlab.world.scene.subject_sizes)."""
    return {"subject_sizes": vision.get("subject_sizes")}


def data_params(vision: dict, base_seed: int) -> dict:
    return {"n": vision["model"]["train_images"], "size": vision["image_size"],
            "seed": derive_seed(base_seed, "vision", "train_data"), **world_params(vision)}


SPEED_OPTIONS = ("bf16", "channels_last", "compile")


def device_params(vision: dict) -> dict:
    """`vision.model.device` for the model and generation steps, only when configured (their default is
    "auto": CUDA when the job sees a GPU; both steps hold the `gpu` resource), so the params, and
    with them the cached results, of a config without it stay as they were."""
    return {"device": vision["model"]["device"]} if "device" in vision["model"] else {}


def train_params(vision: dict, base_seed: int) -> dict:
    m = vision["model"]
    return {"model": {**m["architecture"], "image_size": vision["image_size"]}, "steps": m["steps"],
            "batch_size": m["batch_size"], "lr": m["lr"], "ema_decay": m["ema_decay"],
            "caption_dropout": m["caption_dropout"], "snr_gamma": m.get("snr_gamma"),
            "seed": derive_seed(base_seed, "vision", "model"), **device_params(vision),
            # speed options of attnlab.diffusion.train.TrainStep and train_text_encoder, passed only when
            # configured (the cached model of a config without them stays valid)
            **{k: m[k] for k in (*SPEED_OPTIONS, "train_text_encoder") if k in m}}


def sampling_params(vision: dict) -> dict:
    return dict(vision["sampling"])


def sample_dirs(exp: str, cfg: dict) -> list[str]:
    """The image directory of every seed of a vision experiment."""
    return [f"results/{exp}/images/seed{s}" for s in range(cfg["seeds"])]


def check_real_path(exp: str, cfg: dict, kind: str) -> None:
    """experiments.<exp>.real_path, when set, must be a file (checked before any job starts)."""
    path = cfg.get("real_path")
    if path and not Path(path).is_file():
        raise ConfigError(f"experiments.{exp}.real_path: {path!r} is not a file ({kind})")


def consistency_params(exp: str, cfg: dict, vision: dict, base_seed: int, seed: int) -> dict:
    """Params of a generation step with consistency attention (ir_diffusion, mucr, envision)."""
    return {"layers": cfg["layers"], "token_dropout": cfg["token_dropout"], "ref_bias": cfg["ref_bias"],
            "seed_index": seed, "seed": derive_seed(base_seed, exp, "generate", seed),
            **sampling_params(vision)}


# --- the steps the vision experiments share (attnlab.registry.SHARED) --------------------------


def images_template(exp: str) -> str:
    return f"results/{exp}/images/seed{{seed}}"


def generate_step(ctx: Context, input: dict, params, runtime: int = 60) -> Step:
    """Sample a vision experiment's images for one seed from the track's pipeline directory; with
    `stack_seeds` (the default) every seed's sampling in one job (one process start, not one per seed)."""
    step = Step("generate", f"attnlab.{ctx.id}.generate", "diffusion", mem_mb=3000, runtime=runtime, gpu=True,
                input=lambda w: {"model": model_dir(ctx.vision), **input}, output={"images": images_template(ctx.id)},
                directories=("images",), params=lambda w: {**(params(w) if callable(params) else params),
                                                           **device_params(ctx.vision)})
    return step if ctx.train_seeds is None else stacked_step(step, {"seed": ctx.seeds})


def shared_steps(config: dict) -> list[Step]:
    """The world training set and the tiny text-to-image model (none when vision.model.path is set)."""
    vision, seed0 = config["vision"], config["base_seed"]
    if not uses_trained_model(vision):
        return []
    return [
        Step("train_data", "attnlab.vision.synth", "synth", output={"data": TRAIN_DATA}, mem_mb=2000, runtime=10,
             params=data_params(vision, seed0)),
        Step("model", "attnlab.diffusion.train", "diffusion", threads=None, gpu=True, mem_mb=3000, runtime=120,
             input={"data": TRAIN_DATA}, output={"model": TRAINED_MODEL}, directories=("model",),
             params=train_params(vision, seed0)),
    ]


def competence_params(config: dict) -> dict:
    """The gate's bar as the gated experiments' evaluate steps read it (the file holds it too)."""
    return {"competence_bar": float(config["experiments"]["image_world"]["competence"]["caption_accuracy"])}


def check(config: dict) -> None:
    check_model_path(config["vision"])

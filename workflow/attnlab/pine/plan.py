"""Which pine jobs a config asks for, and the params each gets. Read by the Snakefile at parse time
(no torch import).

Per seed, one causal rope LM (softmax attention) is trained on retrieval QA over K documents with
the gold document at a uniform position; it is then run, without retraining, under each inference
variant of attnlab.attention.pine (vanilla, NIA, PCW, PINE without re-assignment, PINE) on test
questions with the gold document at each position, and on a few questions under several document
orders (the invariance check).
"""

from __future__ import annotations

from attnlab.experiment import (
    Contains,
    Context,
    Experiment,
    Step,
    check_heads_divide_width,
    claims_path,
    evaluate_step,
    keyname,
    lm_train_step,
    require,
    run_files,
    table_step,
)
from attnlab.pine import PAPER
from attnlab.seeds import derive_seed
from attnlab.tasks import TASKS
from attnlab.tasks.multidoc import grid_shape

EXP = "pine"
RESULTS = f"results/{EXP}"
VARIANTS = ("vanilla", "nia", "pcw", "pine_noreorder", "pine")
DATA = RESULTS + "/data/{split}/seed{seed}.parquet"
RUN = RESULTS + "/runs/rope/seed{seed}"
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("metrics", "by_position", "invariance")}


def data_path(split: str, seed: int) -> str:
    return DATA.format(split=split, seed=seed)


def run_dir(seed: int) -> str:
    return RUN.format(seed=seed)


def vocab_size(cfg: dict) -> int:
    return TASKS["retrieval_qa"].vocab_size(**cfg["task"])


def synth_params(cfg: dict, base_seed: int, split: str, seed: int) -> dict:
    part = {"task": "retrieval_qa", **cfg["task"]}
    if split == "train":
        part.update(n=cfg["n_train"], n_questions=cfg["train_questions"])
    else:
        part.update(n=cfg["n_test"], per_position=True)
    return {"seed": derive_seed(base_seed, EXP, split, seed), "parts": [part]}


def train_params(cfg: dict, base_seed: int, seed: int) -> dict:
    n_tokens = 4 * cfg["task"]["n_docs"] + 1 + 4 * cfg["train_questions"]
    model = {**cfg["model"], "vocab_size": vocab_size(cfg), "n_positions": n_tokens, "attention": "softmax",
             "attention_options": {}}
    return {"model": model, "train": cfg["train"], "seed": derive_seed(base_seed, EXP, "rope", seed)}


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    return [{"seed_index": s, "seed": derive_seed(base_seed, EXP, "rope", s), "model_dir": run_dir(s),
             "data": data_path("test", s)} for s in range(cfg["seeds"])]


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"manifest": manifest(cfg, base_seed), "variants": cfg["variants"], "n_orders": cfg["n_orders"],
            "n_invariance": cfg["n_invariance"], "competence": cfg["competence"],
            "order_seed": derive_seed(base_seed, EXP, "orders")}


def table_params(cfg: dict) -> dict:
    m, t, k = cfg["model"], cfg["train"], cfg["task"]
    return {"model_note": f"{m['n_layer']} layers × {m['n_head']} heads, d={m['n_embd']}, rope, "
                          f"{t['steps']} steps × batch {t['batch_size']}, lr {t['lr']}",
            "task_note": f"retrieval QA over K={k['n_docs']} documents 'DOC k1 k2 v' ({k['n_keys']} key and "
                         f"{k['n_values']} value tokens), {cfg['n_train']} training sequences with the gold "
                         f"document at a uniform position; {cfg['n_test']} test questions per gold position"}


# --- the experiment record ---------------------------------------------------------------------


def check(ctx: Context) -> None:
    cfg, m = ctx.cfg, ctx.cfg["model"]
    check_heads_divide_width(EXP, m)
    require(m.get("position_encoding") == "rope", f"{keyname(EXP, 'model', 'position_encoding')} = "
            f"{m.get('position_encoding')!r}: PINE re-assigns rotary positions, so the model needs 'rope'")
    unknown = sorted(set(cfg["variants"]) - set(VARIANTS))
    require(not unknown, f"{keyname(EXP, 'variants')} names {unknown}; choose from {list(VARIANTS)}")
    require("vanilla" in cfg["variants"] and "pine" in cfg["variants"],
            f"{keyname(EXP, 'variants')} = {cfg['variants']} lacks 'vanilla' or 'pine', which every claim compares")
    try:
        grid_shape(cfg["task"]["n_docs"])
    except ValueError as e:
        require(False, f"{keyname(EXP, 'task', 'n_docs')}: {e}")
    require(cfg["n_orders"] >= 2, f"{keyname(EXP, 'n_orders')} = {cfg['n_orders']}: the invariance check needs >= 2 orders")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    man = manifest(cfg, seed0)
    return [
        Step("synth", "attnlab.tasks.synth", "synth", output={"data": DATA}, constraints={"split": "train|test"},
             params=lambda w: synth_params(cfg, seed0, w["split"], int(w["seed"]))),
        lm_train_step(RUN, ctx.train_seeds, data=lambda w: data_path("train", int(w["seed"])),
                      params=lambda w: train_params(cfg, seed0, int(w["seed"]))),
        evaluate_step(EXPERIMENT, ctx, output=METRICS, params=evaluate_params(cfg, seed0), mechanisms=("pine",),
                      input={"data": [m["data"] for m in man],
                             "models": [f for m in man for f in run_files(m["model_dir"])]}),
        table_step(EXPERIMENT, ctx, input={"metrics": METRICS["metrics"], "by_position": METRICS["by_position"],
                                           "claims": claims_path(EXP)}, params=table_params(cfg),
                   figures={"by_position": "accuracy by gold-document position, per inference variant"}),
    ]


# The spec's settings (shared/papers/pine.md): "K=8 documents"; "4 layers × 4 heads, d=64, rope";
# "AdamW 3e−3, batch 32, 800 steps"; "100 questions per gold position"; "5 random orders";
# "verdict_over_seeds over 3 seeds"; the five inference variants. Full: K in {10, 20}, 8 layers,
# d=256, 5 seeds.
# The competence bar is ours (the spec gives none), fixed before any run: the vanilla model must
# answer at least half of the test questions (mean over gold positions; chance is 1/K), else its
# seed is under-trained and every claim row is INCONCLUSIVE for it.
# One question per sequence ("~40 tokens per sequence"): train_questions > 1 is listed as a deviation.
_COMMON = {"variants": Contains(*VARIANTS), "model.position_encoding": "rope", "n_test": 100, "n_orders": 5,
           "train_questions": 1,
           "competence.vanilla_accuracy": 0.5}
REFERENCE = {
    "mini": {**_COMMON, "seeds": 3, "task.n_docs": 8, "model.n_layer": 4, "model.n_head": 4, "model.n_embd": 64,
             "train.lr": 0.003, "train.batch_size": 32, "train.steps": 800},
    "full": {**_COMMON, "seeds": 5, "model.n_layer": 8, "model.n_embd": 256},
}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("by_position",), check=check,
                        reference=REFERENCE)

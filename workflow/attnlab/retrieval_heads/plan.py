"""Which retrieval-heads jobs a config asks for, and the params each gets. Read by the Snakefile at
parse time (no torch import).

One causal LM (standard softmax attention) per seed, trained on needle-in-a-haystack sequences
("KEY k₁..k_a VAL v₁..v_b" at a random depth of a random-token haystack, among distractor needles
with other keys, queried at the end), then analysed on a held-out needle suite over context
lengths × needle depths: heads are scored on one half of it and masked on the other.
"""

from __future__ import annotations

from attnlab.experiment import (
    Context,
    Experiment,
    Span,
    Step,
    Within,
    check_heads_divide_width,
    keyname,
    require,
)
from attnlab.lm_task import Analysis, LMTask
from attnlab.retrieval_heads import PAPER
from attnlab.seeds import derive_seed
from attnlab.tasks import TASKS

EXP = "retrieval_heads"
HEADS_OUTPUTS = ("heads", "ablation", "maps", "samples")
LAYOUT = LMTask(EXP, HEADS_OUTPUTS, eval_split="test", analysis_dir="heads", model_seed_tag="train")
RESULTS, DATA, RUN, HEADS = LAYOUT.results, LAYOUT.data, LAYOUT.run, LAYOUT.analysis
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("metrics", "scores", "ablation", "maps")}
data_path, run_dir, heads_path = LAYOUT.data_path, LAYOUT.run_dir, LAYOUT.analysis_path


def vocab_size(cfg: dict) -> int:
    return TASKS["needle"].vocab_size(**cfg["needle"])


def max_length(cfg: dict) -> int:
    return max(cfg["train_lengths"] + cfg["test_lengths"])


def train_depths(cfg: dict) -> list[float]:
    n = cfg["train_depths"]
    return [i / (n - 1) for i in range(n)] if n > 1 else [0.5]


# training mixtures: config key -> the needle setting each of its values replaces (issue 13)
MIXTURES = {"train_distractors": "n_distractors", "train_shared_vocab": "shared_vocab"}


def train_parts(cfg: dict, n_per: int | None = None) -> list[dict]:
    """The training set's needle parts (keyword arguments of TASKS["needle"].generate, with `n`): one per
    combination of the mixture keys' values (`train_distractors`: distractor counts; `train_shared_vocab`:
    haystack vocabularies; each defaults to the test suite's setting alone), distractor counts outermost,
    `n_per` (default n_train_per) sequences per (length, depth) each. Training sequences may end in
    several queries (`train_queries`, denser supervision, issue 13) and repeat a haystack span whose copy
    is a target (`train_repeat_span`, an auxiliary induction objective, issue 13)."""
    q, r = cfg.get("train_queries", 1), cfg.get("train_repeat_span", 0)
    parts = [{"n": n_per or cfg["n_train_per"], "lengths": cfg["train_lengths"], "depths": train_depths(cfg),
              **({"n_queries": q} if q > 1 else {}), **({"repeat_span": r} if r else {}), **cfg["needle"]}]
    for key, setting in MIXTURES.items():
        if key in cfg:
            parts = [{**part, setting: v} for part in parts for v in cfg[key]]
    return parts


def synth_params(cfg: dict, base_seed: int, split: str, seed: int) -> dict:
    if split == "train":
        parts = train_parts(cfg)
    else:
        parts = [{"n": cfg["n_test_per"], "lengths": cfg["test_lengths"], "depths": cfg["test_depths"], **cfg["needle"]}]
    return {"seed": LAYOUT.synth_seed(base_seed, split, seed), "parts": [{"task": "needle", **p} for p in parts]}


def train_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return LAYOUT.train_params(cfg, base_seed, seed, vocab_size=vocab_size(cfg), n_positions=max_length(cfg))


def heads_params(cfg: dict, base_seed: int, seed: int) -> dict:
    return {"key_len": cfg["needle"]["key_len"], "value_len": cfg["needle"]["value_len"],
            "value_marker": cfg["needle"].get("value_marker", True),
            "ks": sorted(set(cfg["ablation_ks"]) | {cfg["claim_k"]}), "n_draws": cfg["random_draws"],
            "seed": derive_seed(base_seed, EXP, "ablation", seed), "batch_size": cfg["eval_batch_size"],
            "split_seed": derive_seed(base_seed, EXP, "split", seed)}


def manifest(cfg: dict, base_seed: int) -> list[dict]:
    return LAYOUT.manifest(cfg, base_seed)


def evaluate_params(cfg: dict, base_seed: int) -> dict:
    return {"manifest": manifest(cfg, base_seed), "claim_k": cfg["claim_k"], "model": cfg["model"],
            "competence": cfg["competence"]}


def table_params(cfg: dict) -> dict:
    m, t, n = cfg["model"], cfg["train"], cfg["needle"]
    d = n.get("n_distractors", 0)
    form = ("KEY k(×{k}) VAL v(×{v})" if n.get("value_marker", True) else
            "KEY k(×{k}) v(×{v}) (no VAL marker: the answer follows the key, in the needle and the query)")
    return {"claim_k": cfg["claim_k"],
            "model_note": f"{m['n_layer']} layers × {m['n_head']} heads, d={m['n_embd']}, softmax attention, "
                          f"{t['steps']} steps × batch {t['batch_size']}",
            "task_note": f"needles {form.format(k=n['key_len'], v=n['value_len'])} in random-token haystacks "
                         + ("drawn from the key and value tokens; " if n.get("shared_vocab") else
                            f"of a separate {n['n_filler']}-token filler vocabulary (so a head can find the needle by "
                            "token type alone, a shortcut natural text does not offer); ")
                         + (f"{d} distractor needle{'s' if d > 1 else ''} with other keys and values in every haystack, so the queried key "
                            f"must be matched (needles found by position or token type alone: chance, 1/{d + 1}); "
                            if d else "one needle per haystack (its KEY marker alone finds it: the key is never "
                                      "matched); ")
                         + (f"training haystacks mix {cfg['train_distractors']} distractor needles in equal parts "
                            "(the test suite's count alone is tested); " if "train_distractors" in cfg else "")
                         + ("training haystacks mix " + " and ".join(
                             "the needles' own vocabulary" if v else "a separate filler vocabulary (no needle token "
                             "recurs in the hay)" for v in cfg["train_shared_vocab"]) + " in equal parts (the test "
                            f"suite's {'shared' if n.get('shared_vocab') else 'separate'} vocabulary alone is tested); "
                            if "train_shared_vocab" in cfg else "")
                         + (f"every training haystack repeats one span of up to {cfg['train_repeat_span']} tokens later "
                            "in itself, the copy's tokens targets (an auxiliary induction objective; the test suite "
                            "has no repeats and only the answer is scored); " if cfg.get("train_repeat_span") else "")
                         + f"train lengths {cfg['train_lengths']}, test lengths {cfg['test_lengths']} × depths "
                         f"{cfg['test_depths']}, {cfg['n_test_per']} test needles per cell, half of them (per cell) "
                         "to choose the heads, the other half to mask them"}


# --- the experiment record ---------------------------------------------------------------------


def check(ctx: Context) -> None:
    cfg, m = ctx.cfg, ctx.cfg["model"]
    check_heads_divide_width(EXP, m)
    q, d = cfg.get("train_queries", 1), min(part.get("n_distractors", 0) for part in train_parts(cfg))
    source = ("train_distractors",) if "train_distractors" in cfg else ("needle", "n_distractors")
    require(q <= d + 1, f"{keyname(EXP, 'train_queries')} = {q}: a training sequence with {d} distractor needle(s) "
                        f"({keyname(EXP, *source)}) holds {d + 1} needle(s) to query")
    n_heads = m["n_layer"] * m["n_head"]
    for k in sorted(set(cfg["ablation_ks"]) | {cfg["claim_k"]}):
        require(k < n_heads, f"{keyname(EXP, 'ablation_ks')} / {keyname(EXP, 'claim_k')}: masking K={k} heads needs "
                f"more than {n_heads} heads ({keyname(EXP, 'model', 'n_layer')} × {keyname(EXP, 'model', 'n_head')})")


def steps(ctx: Context) -> list[Step]:
    cfg, seed0 = ctx.cfg, ctx.base_seed
    return LAYOUT.steps(
        EXPERIMENT, ctx, synth_params=synth_params, train_params=train_params,
        analysis=Analysis("attnlab.heads.retrieval_step", lambda s: heads_params(cfg, seed0, s), name="heads",
                          mem_mb=3000),
        evaluate_params=evaluate_params(cfg, seed0), metrics=METRICS, table_params=table_params(cfg),
        # since recipe I (bench/README "Seventeenth session") the longest stack of the whole run (3 x 2000 steps at
        # d=128, ~4000 CPU s): first of all, before meta_tokens' stacks (25), so it does not start late and run alone
        train_priority=30,
        figures={"scores": "retrieval scores", "ablation": "accuracy after masking", "maps": "top-head attention"})


# The spec's settings (shared/papers/retrieval_heads.md): a needle "KEY k1k2 VAL v1v2v3" in a
# "haystack of random tokens" (drawn from the same vocabulary as the needle: shared_vocab); random heads
# "mean over 5 draws"; "K = 2-4 at mini scale"; "Mini: 4 layers x 8 heads, d=128, context 256, ~3k
# steps"; "Full: 12x12, context 4k".
# The competence bar (issue 13) is this project's, fixed before the claim seeds ran: a model must answer
# 90% of the held-out needles before masking its heads says anything.
_NIAH = {"needle.key_len": 2, "needle.value_len": 3, "needle.shared_vocab": True, "needle.value_marker": True,
         "random_draws": 5,
         "competence.niah_accuracy": 0.9}
REFERENCE = {
    "mini": {**_NIAH, "model.n_layer": 4, "model.n_head": 8, "model.n_embd": 128, "train_lengths": Span(hi=256),
             "test_lengths": Span(hi=256), "train.steps": 3000, "claim_k": Within(2, 4)},
    "full": {**_NIAH, "model.n_layer": 12, "model.n_head": 12, "train_lengths": Span(hi=4096),
             "test_lengths": Span(hi=4096)},
}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("scores", "ablation", "maps"), check=check,
                        reference=REFERENCE)

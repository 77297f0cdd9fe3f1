"""Recall learnability: task or model? (recall2). Trains same-shape models on ONE recall task, meta_tokens'
list recall at its config (train_len, list_len, names, items; the baseline's data, seed, schedule),
to tell a hard task from a model, init or engine defect.

    python bench/recall_learnability.py --model attnlm --pos rope --steps 1500        # (a) as today
    python bench/recall_learnability.py --model attnlm --pos learned --steps 1500     # (a) learned positions
    python bench/recall_learnability.py --model gpt2 --steps 1500                     # (b) GPT2LMHeadModel
    python bench/recall_learnability.py --model attnlm --init gpt2 --steps 1500       # (c) AttnLM, GPT-2's weights
    python bench/recall_learnability.py --steps 1500 --loss all                       # loss on every token
    python bench/recall_learnability.py --steps 1500 --set model.initializer_range=0.08 train.weight_decay=0

--model attnlm: attnlab.train.lm.build_model of the baseline's params (causal softmax), positions
  from --pos. --model gpt2: transformers' GPT2LMHeadModel of the same shape (learned positions, tied
  embeddings, GPT-2's own init incl. its 1/sqrt(2 n_layer) residual projections; dropout 0, as our
  model has none, so both compute the same function). --init gpt2 (attnlm): the weights a
  GPT2LMHeadModel of that shape gets from the same seed, converted by attnlab.lm.convert (rope:
  every weight but the position table). --init fixed (attnlm): AttnLMConfig(gpt2_init=True), our own
  init with the residual scaling that transformers 5 skipped (attnlab.lm.configuration). All train in attnlab.train (same AdamW groups, schedule,
  clipping), on the same fresh pool and held-out sequences as bench/calibrate_meta_tokens.py
  (`baseline_data`), with bench/lm_calibration.py's loop, scored (exact match, token accuracy,
  teacher-forced, at train_len and 2x) every --every steps. --loss all: every token after BOS is a
  training target (held-out scoring unchanged: answer tokens only). One torch thread.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
sys.path.insert(0, str(ROOT / "bench"))

from calibrate_meta_tokens import baseline_data, held_scorer  # noqa: E402
from lm_calibration import set_key, train_and_score  # noqa: E402

from attnlab.lm.convert import state_dict_from_gpt2  # noqa: E402
from attnlab.seeds import seed_everything  # noqa: E402
from attnlab.tasks.vocab import BOS, EOS, PAD  # noqa: E402
from attnlab.train.lm import build_model  # noqa: E402


def gpt2_of(model_params: dict, seed: int):
    """GPT2LMHeadModel of the AttnLM shape `model_params` (learned positions), GPT-2's own init, seeded."""
    from transformers import GPT2Config, GPT2LMHeadModel

    m = model_params
    cfg = GPT2Config(vocab_size=m["vocab_size"], n_positions=m["n_positions"], n_embd=m["n_embd"],
                     n_layer=m["n_layer"], n_head=m["n_head"], n_inner=4 * m["n_embd"],
                     activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     initializer_range=m.get("initializer_range", 0.02),
                     bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, tie_word_embeddings=True)
    seed_everything(seed)
    return GPT2LMHeadModel(cfg)


def make_model(kind: str, pos: str, init: str, model_params: dict, seed: int):
    if kind == "gpt2":
        if pos != "learned" or init != "default":
            raise SystemExit("--model gpt2 has learned positions and its own init (--pos learned --init default)")
        return gpt2_of(model_params, seed)
    model = build_model({**model_params, "position_encoding": pos, **({"gpt2_init": True} if init == "fixed" else {})}, seed)
    if init == "gpt2":
        state = state_dict_from_gpt2(gpt2_of(model_params, seed).state_dict())
        if pos != "learned":
            state.pop("wpe.weight")
        state = {k: v for k, v in state.items() if k != "lm_head.weight"}  # tied to wte
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or [k for k in missing if k != "lm_head.weight"]:
            raise SystemExit(f"--init gpt2: missing {missing}, unexpected {unexpected}")
    return model


def all_token_targets(pool):
    """Every position after BOS becomes a target (PAD never: sequences of one length have none)."""
    pool = pool.copy()
    pool["target_mask"] = [[i > 0 and t != PAD for i, t in enumerate(ids)] for ids in pool.input_ids]
    return pool


def induction_share(df) -> float:
    """Share of sequences whose every answer ITEM (EOS left out: nothing in the body precedes one) a
    plain induction head gets right: each earlier occurrence of the token before the target is
    followed by the target (no ambiguity). Item 1 follows the queried name (unique); items 2..
    follow the previous item, which may occur in other lists too."""
    ok = 0
    for ids, mask in zip(df.input_ids, df.target_mask):
        ids = list(ids)
        good = True
        for t in [i for i, m in enumerate(mask) if m][:-1]:  # the items, not the final EOS
            prev = ids[t - 1]
            after = {ids[j + 1] for j in range(t - 1) if ids[j] == prev}
            good &= after == {ids[t]}
        ok += good
    return ok / len(df)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    ap.add_argument("--model", choices=["attnlm", "gpt2"], default="attnlm")
    ap.add_argument("--pos", choices=["rope", "learned"], help="default: rope (attnlm), learned (gpt2)")
    ap.add_argument("--init", choices=["default", "gpt2", "fixed"], default="default",
                    help="attnlm: default (as configured), gpt2 (GPT-2's initial weights), fixed (gpt2_init=True)")
    ap.add_argument("--loss", choices=["answer", "all"], default="answer", help="training targets")
    ap.add_argument("--steps", type=int, default=1500, help="run length (its own warm-up + cosine schedule)")
    ap.add_argument("--every", type=int, default=250, help="score every N steps")
    ap.add_argument("--n-eval", type=int, default=100, help="held-out sequences per length")
    ap.add_argument("--seed-index", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="any key of the meta_tokens block, e.g. model.initializer_range=0.08 train.weight_decay=0")
    a = ap.parse_args()
    pos = a.pos or ("learned" if a.model == "gpt2" else "rope")
    torch.set_num_threads(1)
    full = yaml.safe_load(Path(a.config).read_text())
    cfg = copy.deepcopy(full["experiments"]["meta_tokens"])
    for assignment in a.set:
        set_key(cfg, assignment)
    t0 = time.perf_counter()
    params, pool, held = baseline_data(cfg, full["base_seed"], a.steps, a.n_eval, a.seed_index)
    if a.loss == "all":
        pool = all_token_targets(pool)
    model = make_model(a.model, pos, a.init, params["model"], params["seed"])
    n_params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    print(f"recall learnability: list_recall {cfg['task_params']['list_recall']}, train_len {cfg['train_len']}, "
          f"train_queries {cfg.get('train_queries', 1)}; model {a.model} pos {pos} init {a.init} "
          f"({n_params} parameters), {params['model']}; train {params['train']}; loss on {a.loss} tokens; "
          f"fresh data, {a.n_eval} held-out sequences per length; data built in {time.perf_counter() - t0:.1f} s",
          flush=True)
    print("plain-induction share (every answer item unambiguous by its previous token): "
          + ", ".join(f"{n}: {induction_share(df):.3f}" for n, df in held.items()), flush=True)
    rows = train_and_score(model, pool, params["train"], a.steps, a.every, held_scorer(held))
    L = cfg["train_len"]
    print("marks: " + "; ".join(f"{r['step']}: {r[f'exact@{L}']:.2f} ({r['train_cpu_s']} s)" for r in rows))


if __name__ == "__main__":
    main()

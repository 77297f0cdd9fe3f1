"""Run every trained pine model under each inference variant and check the spec's claims over seeds.

Per seed, the one trained rope LM is loaded into attnlab.attention.pine (same weights) under each
variant — vanilla, NIA, PCW, PINE without re-assignment, PINE — and measured:
- accuracy by gold-document position (argmax of the answer given the question);
- position spread: max − min accuracy over positions;
- invariance: max |Δ logits| of the answer position between `n_orders` random document orders of
  the same question (the first order against the others), over `n_invariance` questions;
- wall time of the scoring pass (PINE's per-query positions cost time).

Claims (shared/papers/pine.md; thresholds there): P1 invariance (PINE and PCW ≤ 1e−4; vanilla and
NIA > 1e−2), P2 bias exists (vanilla spread ≥ 10 points: the precondition of P3, its own row), P3
accuracy (PINE mean ≥ vanilla mean − 3 and ≥ vanilla's worst position + 5, unmeasured on a seed
where P2 fails), P4 (PINE ≥ the better of PCW and NIA + 3). Claim 1 (the causes of bias) is
reported only (the figure). Competence gate (ours): the vanilla model's mean accuracy over
positions reaches `competence.vanilla_accuracy`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForCausalLM

import attnlab.models  # noqa: F401  (registers the Auto classes)
from attnlab.claims import ClaimSet, Competence
from attnlab.cli import StepArgs, run_step
from attnlab.lm.configuration import AttnLMConfig
from attnlab.lm.modeling import AttnLMForCausalLM
from attnlab.pine import PAPER
from attnlab.runs import iter_runs, train_wall_s, write_evaluation
from attnlab.tasks.multidoc import DOC
from attnlab.tasks.vocab import QUERY
from attnlab.train.data import SequenceData
from attnlab.train.scoring import score

# Thresholds of the claim checks in shared/papers/pine.md (accuracy as fractions)
INVARIANT_TOL = 1e-4  # P1: PINE and PCW
VARIANT_MIN = 1e-2  # P1: vanilla and NIA move by more
MIN_SPREAD = 0.10  # P2: vanilla position spread
VS_MEAN = -0.03  # P3: PINE mean ≥ vanilla mean − 3 points
VS_WORST = 0.05  # P3: PINE ≥ vanilla's worst position + 5 points
VS_INVARIANT = 0.03  # P4: PINE ≥ max(PCW, NIA) + 3 points
DATA_COLUMNS = ("input_ids", "target_mask", "gold_position", "n_docs")


def variant_model(model: AttnLMForCausalLM, mode: str) -> AttnLMForCausalLM:
    """The trained model's weights under the pine inference `mode` (the mechanism has no parameters)."""
    cfg = AttnLMConfig(**{**model.config.to_dict(), "attention": "pine",
                          "attention_options": {"doc_token": DOC, "query_token": QUERY, "mode": mode}})
    out = AttnLMForCausalLM(cfg).eval()
    out.load_state_dict(model.state_dict())
    return out


def permute_documents(ids: np.ndarray, n_docs: int, perm: np.ndarray) -> np.ndarray:
    """BOS, n_docs documents of 4 tokens, question: the documents reordered by `perm`."""
    docs = ids[1: 1 + 4 * n_docs].reshape(n_docs, 4)[perm].ravel()
    return np.concatenate([ids[:1], docs, ids[1 + 4 * n_docs:]])


@torch.no_grad()
def invariance(model, data: SequenceData, n_docs: int, n_questions: int, n_orders: int, seed: int) -> float:
    """Max |Δ logits| at the answer position between the first of `n_orders` random document
    orders and the others, over the first `n_questions` questions."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for i in range(min(n_questions, len(data))):
        ids = data.ids[i]
        batch = np.stack([permute_documents(ids, n_docs, rng.permutation(n_docs)) for _ in range(n_orders)])
        logits = model(torch.from_numpy(batch)).logits[:, -2].float()  # predicts the answer
        worst = max(worst, float((logits[1:] - logits[:1]).abs().max()))
    return worst


def evaluate_all(manifest: list[dict], variants: list[str], n_orders: int, n_invariance: int, order_seed: int):
    rows, by_pos = [], []
    for run in iter_runs(manifest, data=SequenceData, data_columns=DATA_COLUMNS):
        base = AutoModelForCausalLM.from_pretrained(run.dir).eval()
        n_docs = int(run.data.frame.n_docs.iloc[0])
        for mode in variants:
            model = variant_model(base, mode)
            t0 = time.perf_counter()
            sc = score(model, run.data, batch_size=100)
            wall = time.perf_counter() - t0
            acc = sc.groupby("gold_position").token_acc.mean()
            inv = invariance(model, run.data, n_docs, n_invariance, n_orders, order_seed + int(run.item["seed_index"]))
            keys = run.keys("seed_index", "seed")
            by_pos += [{**keys, "variant": mode, "gold_position": int(g), "accuracy": float(a)} for g, a in acc.items()]
            rows.append({**keys, "variant": mode, "accuracy": float(acc.mean()), "worst": float(acc.min()),
                         "best": float(acc.max()), "spread": float(acc.max() - acc.min()), "max_dlogit": inv,
                         "score_wall_s": wall, "final_train_loss": run.final_train_loss,
                         "train_wall_s": run.train_wall_s})
    return pd.DataFrame(rows), pd.DataFrame(by_pos)


def check_claims(m: pd.DataFrame, *, bar: float, scale: str, n_orders: int) -> list[dict]:
    seeds = [int(s) for s in sorted(m.seed_index.unique())]
    at = {v: g.set_index("seed_index") for v, g in m.groupby("variant")}
    van = at["vanilla"]
    gate = Competence("vanilla accuracy, mean over gold positions", bar,
                      {s: float(van.accuracy[s]) for s in seeds})
    claims = ClaimSet("pine", PAPER, scale=scale, seeds=seeds, substitute=True, competence=gate)

    def val(v, col, s):
        return float(at[v][col][s]) if v in at else float("nan")

    def pts(x):
        return f"{100 * x:.1f}"

    # P1: exact invariance (deterministic per seed)
    inv_ok = [conj([val(v, "max_dlogit", s) <= INVARIANT_TOL for v in ("pine", "pcw") if v in at]
                   + [val(v, "max_dlogit", s) > VARIANT_MIN for v in ("vanilla", "nia") if v in at]) for s in seeds]
    claims.add(kind="paper",
               claim="PINE makes the output exactly invariant to document order, without training (PCW too; "
                     "vanilla and NIA are not)",
               metric=f"max |Δ logits| at the answer position between {n_orders} random document orders of the "
                      "same question (fp32)",
               threshold=f"PINE and PCW ≤ {INVARIANT_TOL:g}; vanilla and NIA > {VARIANT_MIN:g}, on every seed",
               paper_value="PINE: outputs invariant to document order by construction (§3.3); vanilla shuffles "
                           "change RewardBench accuracy by several points",
               measured="; ".join(f"seed {s}: " + ", ".join(f"{v} {val(v, 'max_dlogit', s):.1e}" for v in at)
                                  for s in seeds),
               per_seed_pass=inv_ok,
               per_seed_values={v: {s: val(v, "max_dlogit", s) for s in seeds} for v in at})
    # the invariant half of P1 as an implementation check: it holds by construction, trained or not
    inv_only = [conj([val(v, "max_dlogit", s) <= INVARIANT_TOL for v in ("pine", "pcw") if v in at]) for s in seeds]
    claims.add(kind="check",
               claim="Our PINE and PCW are exactly invariant to document order on the trained model, whatever its "
                     "accuracy (the construction, not the paper's claim)",
               metric=f"max |Δ logits| at the answer position between {n_orders} random document orders (fp32)",
               threshold=f"≤ {INVARIANT_TOL:g} for PINE and PCW on every seed",
               paper_value="—",
               measured="; ".join(f"seed {s}: " + ", ".join(f"{v} {val(v, 'max_dlogit', s):.1e}"
                                                            for v in ("pine", "pcw") if v in at) for s in seeds),
               per_seed_pass=inv_only, substitute=False)
    # P2: position bias exists in vanilla (the precondition of P3)
    bias = [val("vanilla", "spread", s) >= MIN_SPREAD for s in seeds]
    claims.add(kind="paper",
               claim="Position bias: the vanilla causal rope model's accuracy depends on where the gold document is "
                     "(the precondition of P3)",
               metric="vanilla position spread: max − min accuracy over the gold document's positions",
               threshold=f"≥ {pts(MIN_SPREAD)} points on every seed",
               paper_value="Llama-3-70B on 20-document NQ: vanilla accuracy varies with the gold position; PINE is "
                           "flat over positions",
               measured="; ".join(f"seed {s}: spread {pts(val('vanilla', 'spread', s))} points (worst "
                                  f"{pts(val('vanilla', 'worst', s))}%, best {pts(val('vanilla', 'best', s))}%)"
                                  for s in seeds),
               per_seed_pass=bias, per_seed_values={"vanilla_spread": {s: val("vanilla", "spread", s) for s in seeds}})
    # P3: accuracy kept, and the worst position beaten
    p3 = []
    for s, b in zip(seeds, bias):
        if not b:
            p3.append(None)  # no bias to remove: unmeasured on this seed
            continue
        p3.append(val("pine", "accuracy", s) >= val("vanilla", "accuracy", s) + VS_MEAN
                  and val("pine", "accuracy", s) >= val("vanilla", "worst", s) + VS_WORST)
    claims.add(kind="paper",
               claim="PINE keeps or improves accuracy: on par with vanilla on average and never hit by the worst "
                     "position",
               metric="accuracy (mean over gold positions) of PINE against vanilla's mean and vanilla's worst "
                      "position",
               threshold=f"PINE ≥ vanilla mean − {pts(-VS_MEAN)} points and ≥ vanilla worst + {pts(VS_WORST)} "
                         "points on every seed (a seed without position bias, P2, is unmeasured)",
               paper_value="retrieval QA, Llama-3-70B: PINE − vanilla = +1.2 (10 documents), −2.0 (20 documents), "
                           "flat over gold positions; RewardBench reasoning +8-10 points",
               measured="; ".join(f"seed {s}: PINE {pts(val('pine', 'accuracy', s))}%, vanilla "
                                  f"{pts(val('vanilla', 'accuracy', s))}% (worst {pts(val('vanilla', 'worst', s))}%)"
                                  + ("" if b else " — no position bias: unmeasured") for s, b in zip(seeds, bias)),
               per_seed_pass=p3,
               per_seed_values={"pine_accuracy": {s: val("pine", "accuracy", s) for s in seeds},
                                "vanilla_accuracy": {s: val("vanilla", "accuracy", s) for s in seeds},
                                "vanilla_worst": {s: val("vanilla", "worst", s) for s in seeds}})
    # P4: better than the invariant baselines
    if "pcw" in at or "nia" in at:
        best_inv = {s: max(val(v, "accuracy", s) for v in ("pcw", "nia") if v in at) for s in seeds}
        claims.add(kind="paper",
                   claim="PINE beats the position-invariant baselines (NIA, PCW)",
                   metric="accuracy, mean over gold positions: PINE against the better of PCW and NIA",
                   threshold=f"PINE ≥ max(PCW, NIA) + {pts(VS_INVARIANT)} points on every seed",
                   paper_value="RewardBench full set: PINE beats NIA/PCW/SP by 4.8 (Llama-3-8B) and 4.7 (Qwen-1.5-7B) "
                               "points",
                   measured="; ".join(f"seed {s}: PINE {pts(val('pine', 'accuracy', s))}%, PCW "
                                      f"{pts(val('pcw', 'accuracy', s))}%, NIA {pts(val('nia', 'accuracy', s))}%"
                                      for s in seeds),
                   per_seed_pass=[val("pine", "accuracy", s) >= best_inv[s] + VS_INVARIANT for s in seeds],
                   per_seed_values={v: {s: val(v, "accuracy", s) for s in seeds} for v in at})
    claims.not_reproduced("Position bias comes from causal attention (favouring early content) and RoPE (favouring "
                          "nearby content)", why="reported only (spec): the figure shows vanilla's accuracy by "
                          "position; the NoPE comparison is a full-scale item", kind="paper")
    claims.not_reproduced("RewardBench +8-10 points (reasoning), R-GSM +12.6 / +5.3, ≈2x / 8x wall time",
                          why="needs pretrained Llama-3 / Qwen-1.5 judges and their benchmarks", kind="paper")
    return claims.rows


def conj(checks: list[bool]) -> bool:
    return bool(checks) and all(checks)


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    torch.set_num_threads(int(p.get("threads", 1)))
    metrics, by_position = evaluate_all(p["manifest"], p["variants"], p["n_orders"], p["n_invariance"],
                                        p["order_seed"])
    inv = metrics[["seed_index", "variant", "max_dlogit"]]
    claims = check_claims(metrics, bar=p["competence"]["vanilla_accuracy"], scale=p["scale"], n_orders=p["n_orders"])
    write_evaluation(args, "pine", claims, {"metrics": metrics, "by_position": by_position, "invariance": inv},
                     started=t0, work_s=train_wall_s(p["manifest"]))


if __name__ == "__main__":
    run_step(main, description=__doc__)

"""The preplan-and-anchor analysis of one model on labelled traces (any HeadModel: ours or an
adapted Hugging Face LM). Teacher-forced: every sequence is run once, attention read from the
named activations `blocks.{l}.attn.hook_pattern`, the predictive distribution from the logits
(restricted to the task's token range, so a tokenizer-free run on a large vocabulary is comparable).

Response positions are those with `target_mask` (the trace after SEP); head distances, WAAD peaks
and FAI peaks are taken over them only. See attnlab.heads.rhythm for the metrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from attnlab.heads import rhythm
from attnlab.heads.adapters import HeadModel


def _batches(df: pd.DataFrame, batch_size: int):
    for i in range(0, len(df), batch_size):
        part = df.iloc[i:i + batch_size]
        T = int(part.length.max())
        ids = np.zeros((len(part), T), dtype=np.int64)  # right padding: causal rows < length are unaffected
        for b, s in enumerate(part.input_ids):
            ids[b, :len(s)] = s
        yield part, torch.from_numpy(ids)


def run_traces(model: HeadModel, df: pd.DataFrame, task_vocab: int, batch_size: int = 32):
    """Per sequence: (attention (L, H, T, T) as float32, log-probabilities (T, task_vocab)) over its own length."""
    model.check_vocab(task_vocab)
    lo = model.token_offset
    for part, ids in _batches(df, batch_size):
        logits, cache = model.run(model.encode(ids), names=model.pattern_names())
        A = torch.stack([cache[n] for n in model.pattern_names()], 1).float()  # (B, L, H, T, T)
        logp = torch.log_softmax(logits[..., lo:lo + task_vocab].float(), -1)
        for b, n in enumerate(part.length):
            n = int(n)
            yield A[b, :, :, :n, :n].numpy(), logp[b, :n].numpy()


def analyze(model: HeadModel, df: pd.DataFrame, *, task_vocab: int, window: int, h_lo: int, h_hi: int,
            head_frac: float = 0.3, q: float = 0.4, k: int = 3, n_shuffles: int = 20, seed: int = 0,
            batch_size: int = 32) -> dict[str, pd.DataFrame]:
    """Frames for one model:

    heads:   layer, head, distance (mean over response queries and sequences), cls (local/global/middle)
    tokens:  sample, pos, token, label, waad, delta, fai, t_loc, t_glob, entropy (nats, of the
             distribution that emits the token), correct (greedy prediction right), one row per
             response position
    samples: sample, coupling (share of FAI peaks with a WAAD peak ≤ k before), shuffled (chance level)
    """
    df = df.reset_index(drop=True)
    runs = list(run_traces(model, df, task_vocab, batch_size))
    masks = [np.asarray(m, bool) for m in df.target_mask]
    dist = np.mean([rhythm.head_distance(A, m) for (A, _), m in zip(runs, masks)], axis=0)
    loc, glob = rhythm.head_classes(dist, head_frac)
    L, H = dist.shape
    heads = pd.DataFrame({"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L),
                          "distance": dist.ravel(),
                          "cls": np.where(loc.ravel(), "local", np.where(glob.ravel(), "global", "middle"))})
    rng = np.random.default_rng(seed)
    tokens, samples = [], []
    labels = df["labels"] if "labels" in df.columns else [np.zeros(int(n), np.int8) for n in df.length]
    for i, ((A, logp), m, lab, toks) in enumerate(zip(runs, masks, labels, df.input_ids)):
        toks, lab = np.asarray(toks), np.asarray(lab)
        w = rhythm.waad(A[loc].mean(0), window)
        delta = rhythm.waad_delta(w)
        f = rhythm.fai(A[glob].mean(0), h_lo, h_hi, query_mask=m)
        t_loc = rhythm.top_fraction(delta, q, m)
        t_glob = rhythm.top_fraction(f, q, m)
        p = np.exp(logp)
        ent = np.full(len(toks), np.nan)
        ent[1:] = -(p[:-1] * logp[:-1]).sum(-1)
        correct = np.zeros(len(toks), bool)
        correct[1:] = logp[:-1].argmax(-1) == toks[1:]
        pos = np.flatnonzero(m)
        tokens.append(pd.DataFrame({"sample": i, "pos": pos, "token": toks[pos], "label": lab[pos], "waad": w[pos],
                                    "delta": delta[pos], "fai": f[pos], "t_loc": t_loc[pos], "t_glob": t_glob[pos],
                                    "entropy": ent[pos], "correct": correct[pos]}))
        eligible_loc = m & ~np.isnan(delta)
        samples.append({"sample": i, "coupling": rhythm.coupling(t_glob, t_loc, k),
                        "shuffled": rhythm.shuffled_coupling(t_glob, t_loc, eligible_loc, k, n_shuffles, rng)})
    return {"heads": heads, "tokens": pd.concat(tokens, ignore_index=True), "samples": pd.DataFrame(samples)}


def summary(tokens: pd.DataFrame, samples: pd.DataFrame, labels: dict[str, int]) -> dict[str, float]:
    """The claim quantities of one model (pooled over its traces):
    anchor_enrichment (P1: reused results in T_glob over their base share), preplan_enrichment
    (P2: step starts in T_loc), entropy_ratio (P3: mean entropy of T_loc tokens over the other
    tokens), coupling, shuffled and coupling_ratio (P4), coupling_ceiling (1 / shuffled: the largest
    ratio possible), final_enrichment (final results in T_glob: the token-type control of P1),
    result_accuracy (greedy, teacher-forced, on result tokens: the competence gate) and accuracy
    (on every response token)."""
    t = tokens
    ok_f, ok_d = ~t.fai.isna(), ~t.delta.isna()
    reused, start, final = (t.label == labels["reused_result"]), (t.label == labels["step_start"]), \
        (t.label == labels["result"])
    loc_in = t.t_loc & ok_d
    ent_other = t.entropy[ok_d & ~t.t_loc].mean()
    c, s = samples.coupling.mean(), samples.shuffled.mean()
    return {
        "anchor_enrichment": rhythm.enrichment(t.t_glob, reused, ok_f),
        "preplan_enrichment": rhythm.enrichment(t.t_loc, start, ok_d),
        "final_enrichment": rhythm.enrichment(t.t_glob, final, ok_f),
        "entropy_loc": float(t.entropy[loc_in].mean()), "entropy_other": float(ent_other),
        "entropy_ratio": float(t.entropy[loc_in].mean() / ent_other) if ent_other > 0 else float("nan"),
        "coupling": float(c), "shuffled": float(s), "coupling_ratio": float(c / s) if s > 0 else float("nan"),
        "coupling_ceiling": float(1 / s) if s > 0 else float("nan"),
        "result_accuracy": float(t.correct[reused | final].mean()), "accuracy": float(t.correct.mean()),
    }

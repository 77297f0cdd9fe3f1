"""The head analysis of one stage-V vision tower (a step; shared/papers/vit_heads.md).

    python -m attnlab.vit_heads.analyse --input model V/config.json --input dev D.parquet \
        --input test X.parquet --output images I.parquet --output heads H.parquet \
        --output profile P.parquet --output clusters C.parquet --params JSON
    params: n_dev, n_test (distinct images used from each split), top_k, random_draws, batch_size,
            seed, ae {images, code, steps, lr, k_min, k_max, silhouette_rows}

Per test image (the bootstrap unit; `images`): the tower's accuracy `base` (mean of its four
attribute hits: present set, count, background, ring), the same with each single head's output
zeroed (`abl_L_H`, hook `blocks.L.attn.hook_z`), with the top_k heads by dev drop zeroed together
(`top`) and with random_draws random head sets of the same size (`rand_j`); the gradient importance
|dL/dxi_h| of a gate xi_h = 1 on each head's output (`grad_L_H`, per image: the gate is per image);
each layer's mean spatial attention distance over patch queries (`dist_L`).
Per head (`heads`): the dev drop (the ranking metric (i)), the test drop, the gradient importance,
attention confidence (mean max weight over queries), spatial distance, same-object ratio (subject
patches' attention to their own patches / to any patch), background ratio, CLS ratio.
`profile`: attention weight per key at each rounded 2-D patch distance, per head.
`clusters`: an MLP autoencoder (64 -> code -> 64) over per-(head, patch query) attention rows (8x8),
k-means on its codes with k chosen by silhouette on dev rows; each cluster's share of test rows,
mean distance, own-object mass and the heads it dominates.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from attnlab import hooks
from attnlab.cli import StepArgs, run_step
from attnlab.heads.patterns import mean_spatial_distance
from attnlab.io import read_parquet, write_parquet
from attnlab.vit_heads.stats import assign, kmeans, silhouette
from attnlab.vlm.data import load_patches
from attnlab.vlm.predict import load_tower, tower_examples, tower_hits
from attnlab.vlm.train import run_dir_of


def per_image_hits(model, ex, batch_size: int, fwd_hooks=(), resume=None) -> np.ndarray:
    """Mean of the four attribute hits per image, under optional hooks on the tower. `resume`
    ((layer, the `residuals` of ex)): start each batch at that block from the clean pass's residual
    stream (hooks on earlier blocks would not fire; the same numbers as a full pass otherwise)."""
    out = []
    with torch.no_grad(), hooks.hooks(model.tower, fwd_hooks):
        for i, lo in enumerate(range(0, len(ex), batch_size)):
            b = ex.batch(np.arange(lo, min(lo + batch_size, len(ex))))
            if resume is None or resume[0] == 0:
                pred = model(b["pixel_values"])
            else:
                pred = model(start_layer=resume[0], inputs_embeds=resume[1][i][resume[0]])
            h = tower_hits(pred, b)
            out.append(torch.stack(list(h.values()), -1).mean(-1))
    return torch.cat(out).numpy()


def residuals(model, ex, batch_size: int) -> list[tuple[torch.Tensor, ...]]:
    """Per batch of `ex`, the clean pass's residual stream entering each block (hidden_states)."""
    with torch.no_grad():
        return [model.tower(ex.batch(np.arange(lo, min(lo + batch_size, len(ex))))["pixel_values"],
                            output_hidden_states=True).hidden_states for lo in range(0, len(ex), batch_size)]


def ablation(heads) -> list:
    """Hooks zeroing the given (layer, head) outputs."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(int(layer), []).append(int(head))
    return [(f"blocks.{layer}.attn.hook_z", hooks.ablate_heads(hs)) for layer, hs in by_layer.items()]


def ablated_hits(model, ex, batch_size: int, heads, res) -> np.ndarray:
    """per_image_hits with `heads` zeroed, resumed at the first block they are in (the blocks before
    it are the clean pass's: `res` = residuals(model, ex, ...))."""
    return per_image_hits(model, ex, batch_size, ablation(heads), resume=(min(int(lh[0]) for lh in heads), res))


def per_sample_loss(out, b) -> torch.Tensor:
    """The stage-V loss of each image over the CLS heads (VisionPretrainer's CLS terms, not averaged over
    the batch): the four attributes the tower is scored on; the per-patch term is left out."""
    return (F.binary_cross_entropy_with_logits(out.present, b["present"].float(), reduction="none").mean(-1)
            + F.cross_entropy(out.count, b["count"], reduction="none")
            + F.cross_entropy(out.background, b["background"], reduction="none")
            + F.binary_cross_entropy_with_logits(out.ring, b["ring"].float(), reduction="none"))


def gradient_importance(model, ex, batch_size: int) -> np.ndarray:
    """(n_images, L, H) |dL_i/dxi_h| for a per-image gate xi = 1 on each head's output (hook_z)."""
    L, H = model.tower.config.n_layer, model.tower.config.n_head
    out = []
    for lo in range(0, len(ex), batch_size):
        b = ex.batch(np.arange(lo, min(lo + batch_size, len(ex))))
        gates = [torch.ones(len(b["count"]), H, requires_grad=True) for _ in range(L)]

        def gate(layer, gates=gates):
            return lambda z, hook: z * gates[layer][:, None, :, None]

        with hooks.hooks(model.tower, [(f"blocks.{layer}.attn.hook_z", gate(layer)) for layer in range(L)]):
            loss = per_sample_loss(model(b["pixel_values"]), b).sum()
        g = torch.autograd.grad(loss, gates)
        out.append(torch.stack([x.abs() for x in g], 1))
    return torch.cat(out).numpy()


def patterns(model, ex, batch_size: int):
    """Yield (index array, (B, L, H, T, T) attention probabilities) per batch."""
    L = model.tower.config.n_layer
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(L)]
    for lo in range(0, len(ex), batch_size):
        idx = np.arange(lo, min(lo + batch_size, len(ex)))
        b = ex.batch(idx)
        cache = {}

        def store(x, hook, cache=cache):
            cache[hook.name] = x.detach()

        with torch.no_grad(), hooks.hooks(model.tower, [(n, store) for n in names]):
            model(b["pixel_values"])
        yield idx, torch.stack([cache[n] for n in names], 1).numpy()


def grid_rc(grid: int) -> np.ndarray:
    """(1 + grid², 2): CLS (NaN) then the patches' (row, col), raster order."""
    rc = np.full((1 + grid * grid, 2), np.nan)
    k = np.arange(grid * grid)
    rc[1:, 0], rc[1:, 1] = k // grid, k % grid
    return rc


def patch_rows(P: np.ndarray) -> np.ndarray:
    """(..., T, T) -> (..., N, N): patch queries' rows over patch keys, renormalised."""
    Q = P[..., 1:, 1:]
    return Q / np.maximum(Q.sum(-1, keepdims=True), 1e-12)


def semantics(P: np.ndarray, objects: dict[int, list[int]], background: list[int]) -> dict[str, np.ndarray]:
    """(L, H) same-object, background and CLS ratios of one image's patterns P (L, H, T, T)."""
    Q = patch_rows(P)
    same = []
    for patches in objects.values():
        if patches:
            p = np.asarray(patches)
            same.append(Q[..., p[:, None], p[None, :]].sum(-1).mean(-1))
    bg = np.asarray(background)
    return {"same_object": np.mean(same, 0) if same else np.full(P.shape[:2], np.nan),
            "background": Q[..., :, bg].sum(-1).mean(-1) if len(bg) else np.full(P.shape[:2], np.nan),
            "cls": P[..., 1:, 0].mean(-1)}


class AutoEncoder(torch.nn.Module):
    def __init__(self, n: int, code: int):
        super().__init__()
        self.enc = torch.nn.Sequential(torch.nn.Linear(n, 64), torch.nn.GELU(), torch.nn.Linear(64, code))
        self.dec = torch.nn.Sequential(torch.nn.Linear(code, 64), torch.nn.GELU(), torch.nn.Linear(64, n))

    def forward(self, x):
        return self.dec(self.enc(x))


def fit_autoencoder(rows: np.ndarray, code: int, steps: int, lr: float, seed: int) -> AutoEncoder:
    torch.manual_seed(seed)
    ae = AutoEncoder(rows.shape[1], code)
    opt = torch.optim.Adam(ae.parameters(), lr=lr)
    x = torch.as_tensor(rows, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        b = x[torch.randint(len(x), (min(512, len(x)),), generator=g)]
        loss = F.mse_loss(ae(b), b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return ae.eval()


def pattern_rows(model, ex, frame_rows, batch_size: int, rc: np.ndarray):
    """Per-(image, layer, head, patch query) attention rows over the patches, with their layer, head,
    query distance (Σ p·d) and own-object mass (the query's subject's patches; NaN off objects)."""
    N = rc.shape[0] - 1
    d = np.hypot(*(rc[1:, None, :] - rc[None, 1:, :]).transpose(2, 0, 1))
    rows, meta = [], []
    for idx, P in patterns(model, ex, batch_size):
        Q = patch_rows(P)  # (B, L, H, N, N)
        B, L, H = Q.shape[:3]
        for i, b in enumerate(idx):
            objects, _ = load_patches(frame_rows[b])
            own = np.full((L, H, N), np.nan)
            for ps in objects.values():
                p = np.asarray(ps)
                if len(p):
                    own[..., p] = Q[i][..., p[:, None], p[None, :]].sum(-1)
            rows.append(Q[i].reshape(-1, N))
            ll, hh, qq = np.meshgrid(np.arange(L), np.arange(H), np.arange(N), indexing="ij")
            meta.append(np.stack([ll.ravel(), hh.ravel(), qq.ravel(), (Q[i] * d[None, None]).sum(-1).ravel(),
                                  own.ravel()], 1))
    return np.concatenate(rows), np.concatenate(meta)


def distinct(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    rows = frame[frame["image"].notna()].drop_duplicates(subset="image")
    return rows.head(n).reset_index(drop=True)


def main(args: StepArgs) -> None:
    t0 = time.perf_counter()
    p = args.params
    torch.set_num_threads(int(p.get("threads", 1)))
    from transformers import AutoProcessor

    run = run_dir_of(args.input("model"))
    model = load_tower(run)
    processor = AutoProcessor.from_pretrained(run)
    L, H = model.tower.config.n_layer, model.tower.config.n_head
    grid = model.tower.config.grid_size
    rc = grid_rc(grid)
    bs = int(p["batch_size"])
    dev_f, test_f = distinct(read_parquet(args.input("dev")), p["n_dev"]), distinct(read_parquet(args.input("test")), p["n_test"])
    dev, test = tower_examples(processor, dev_f), tower_examples(processor, test_f)
    heads = [(layer, h) for layer in range(L) for h in range(H)]

    res_dev, res_test = residuals(model, dev, bs), residuals(model, test, bs)
    # the clean hits from the same pass: resumed after the last block (only the final norm and heads run)
    base_dev, base_test = per_image_hits(model, dev, bs, resume=(L, res_dev)), per_image_hits(model, test, bs, resume=(L, res_test))
    images = {"base": base_test}
    drop_dev, drop_test = {}, {}
    for lh in heads:
        drop_dev[lh] = float(base_dev.mean() - ablated_hits(model, dev, bs, [lh], res_dev).mean())
        images[f"abl_{lh[0]}_{lh[1]}"] = ablated_hits(model, test, bs, [lh], res_test)
        drop_test[lh] = float(base_test.mean() - images[f"abl_{lh[0]}_{lh[1]}"].mean())
    k = int(p["top_k"])
    top = sorted(heads, key=lambda lh: -drop_dev[lh])[:k]
    images["top"] = ablated_hits(model, test, bs, top, res_test)
    rng = np.random.default_rng(int(p["seed"]))
    for j in range(int(p["random_draws"])):
        pick = [heads[i] for i in rng.choice(len(heads), size=k, replace=False)]
        images[f"rand_{j}"] = ablated_hits(model, test, bs, pick, res_test)
    del res_dev, res_test
    grads = gradient_importance(model, test, bs)
    for layer, h in heads:
        images[f"grad_{layer}_{h}"] = grads[:, layer, h]

    # patterns on test: distance, confidence, semantics, profile
    dist = np.zeros((len(test), L, H))
    conf = np.zeros((L, H))
    sem = {n: [] for n in ("same_object", "background", "cls")}
    dmat = np.hypot(*(rc[1:, None, :] - rc[None, 1:, :]).transpose(2, 0, 1))
    bins = np.rint(dmat).astype(int)
    n_bins = int(bins.max()) + 1
    per_key = np.bincount(bins.ravel(), minlength=n_bins) / bins.shape[0]  # keys per query at each distance
    profile = np.zeros((L, H, n_bins))
    test_rows = list(test_f.itertuples())
    for idx, P in patterns(model, test, bs):
        dist[idx] = mean_spatial_distance(P, rc)
        conf += P.max(-1).mean(-1).sum(0)
        Q = patch_rows(P)
        for j in range(n_bins):
            profile[..., j] += (Q * (bins == j)).sum(-1).mean(-1).sum(0)
        for i, b in enumerate(idx):
            objects, background = load_patches(test_rows[b])
            for n, v in semantics(P[i], objects, background).items():
                sem[n].append(v)
    conf /= len(test)
    profile /= len(test) * np.maximum(per_key, 1e-12)
    for layer in range(L):
        images[f"dist_{layer}"] = dist[:, layer].mean(-1)
    heads_df = pd.DataFrame([{
        "layer": layer, "head": h, "drop_dev": drop_dev[(layer, h)], "drop_test": drop_test[(layer, h)],
        "grad": float(grads[:, layer, h].mean()), "confidence": float(conf[layer, h]),
        "distance": float(dist[:, layer, h].mean()), "top": (layer, h) in top,
        **{n: float(np.nanmean([v[layer, h] for v in sem[n]])) for n in sem}} for layer, h in heads])
    prof = pd.DataFrame([{"layer": layer, "head": h, "distance": j, "weight": float(profile[layer, h, j])}
                         for layer, h in heads for j in range(n_bins) if per_key[j] > 0])

    # the pattern autoencoder and its clusters
    ae_p = p["ae"]
    n_ae = int(ae_p["images"])
    dev_rows, _ = pattern_rows(model, tower_examples(processor, dev_f.head(n_ae)), list(dev_f.itertuples()), bs, rc)
    ae = fit_autoencoder(dev_rows, int(ae_p["code"]), int(ae_p["steps"]), float(ae_p["lr"]), int(p["seed"]))
    with torch.no_grad():
        codes = ae.enc(torch.as_tensor(dev_rows, dtype=torch.float32)).numpy()
        recon = float(F.mse_loss(ae(torch.as_tensor(dev_rows, dtype=torch.float32)),
                                 torch.as_tensor(dev_rows, dtype=torch.float32)))
    sub = np.random.default_rng(int(p["seed"])).choice(len(codes), size=min(len(codes), int(ae_p["silhouette_rows"])),
                                                       replace=False)
    scores = {}
    fits = {}
    for kk in range(int(ae_p["k_min"]), int(ae_p["k_max"]) + 1):
        centres, labels = kmeans(codes[sub], kk, int(p["seed"]))
        fits[kk], scores[kk] = centres, silhouette(codes[sub], labels)
    best = max(scores, key=lambda kk: -np.inf if np.isnan(scores[kk]) else scores[kk])
    test_rows_x, meta = pattern_rows(model, tower_examples(processor, test_f.head(n_ae)), test_rows, bs, rc)
    with torch.no_grad():
        labels = assign(ae.enc(torch.as_tensor(test_rows_x, dtype=torch.float32)).numpy(), fits[best])
    cl = []
    for c in range(best):
        m = labels == c
        head_share = {(layer, h): float(m[(meta[:, 0] == layer) & (meta[:, 1] == h)].mean()) for layer, h in heads}
        dominated = [f"L{layer}H{h}" for (layer, h), s in head_share.items() if s >= 0.5]
        cl.append({"k": best, "cluster": c, "share": float(m.mean()), "distance": float(meta[m, 3].mean()) if m.any() else np.nan,
                   "own_object": float(np.nanmean(meta[m, 4])) if m.any() and np.isfinite(meta[m, 4]).any() else np.nan,
                   "heads": " ".join(dominated), "silhouette": scores[best], "recon_mse": recon,
                   "silhouettes": " ".join(f"k={kk}:{v:.3f}" for kk, v in scores.items())})
    heads_df["cluster"] = [int(np.bincount(labels[(meta[:, 0] == layer) & (meta[:, 1] == h)], minlength=best).argmax())
                           for layer, h in heads]
    images_df = pd.DataFrame(images)
    images_df["analysis_wall_s"] = time.perf_counter() - t0
    write_parquet(args.output("images"), images_df)
    write_parquet(args.output("heads"), heads_df)
    write_parquet(args.output("profile"), prof)
    write_parquet(args.output("clusters"), pd.DataFrame(cl))


if __name__ == "__main__":
    run_step(main, description=__doc__)

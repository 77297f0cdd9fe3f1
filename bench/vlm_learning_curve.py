"""Learning curves of the base VLM's stages on ONE seed (issue 18, vlm_design §4 "WI-1 must measure
learning curves"), at the settings of `vlm` in config/config.yaml (plus --set overrides), before
any claim is computed.

    nice -n 19 python bench/vlm_learning_curve.py [--every 200] [--set stages.S.steps=1200 ...]
        [--n-dev 100] [--captions 48] [--cache DIR]

One seed of data (attnlab.vlm.synth at the config's vlm.data), then the four stages as the workflow
trains them (attnlab.vlm.train's pieces, one thread):
  V  scored every --v-every steps (default: at its end): dev accuracy of the CLS heads (present set /
     count / background / ring), of the per-patch head (patch_acc over the patches with a target;
     patch_set: the set of types the patch head names equals the present set; patch_pope: POPE-random
     answered from the patch head alone, "yes" when a patch is classified as the asked type: how much
     of the existence task the patch outputs the projector reads already carry)
  T  its final loss
  A  scored at its end (caption object precision and CHAIR_I on dev captions)
  S  scored every --every steps (one warm-up + cosine schedule over its steps; training stops at
     each mark and resumes from its checkpoint): POPE-random accuracy, caption object precision
     (1 - CHAIR_I), CHAIR_I, recall, VQA exact match (attribute + hidden identity) on dev, and
     POPE-random with each question paired with another question's image (the image-use check:
     equal to pope_random when the model ignores the image); pope_auc / pope_auc_shuffled: the ROC AUC
     of the first answer token's logit(yes) - logit(no) on those two (0.5: the answer does not depend
     on the image, even where greedy answers are all "yes").
Prints one line per mark with the CPU seconds of training so far (scoring excluded) and the design's
bars (POPE-random >= 0.80, caption object precision >= 0.75). Reads vlm.patch_weight, data.s_mix,
align_trains_lm and loss_per_example as the workflow does.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
sys.path.insert(0, str(ROOT / "bench"))

from lm_calibration import set_key  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--every", type=int, default=200)
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE on the vlm block (dotted)")
    ap.add_argument("--n-dev", type=int, default=100, help="dev unit (POPE questions per split, captions ...)")
    ap.add_argument("--captions", type=int, default=48, help="dev captions generated per mark")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--v-every", type=int, default=0, help="score stage V every N steps (0: at its end)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="directory caching the synth frames and the stage V and T weights (safetensors), keyed by "
                         "the settings each depends on: a curve that changes only A/S reuses them, and the printed "
                         "training CPU adds the CPU seconds the cached stages took when they were trained")
    a = ap.parse_args()
    torch.set_num_threads(1)

    from safetensors.torch import load_model, save_model

    from attnlab.config import config_hash
    from attnlab.io import read_parquet, write_parquet
    from attnlab.lm.configuration import AttnLMConfig
    from attnlab.lm.modeling import AttnLMForCausalLM
    from attnlab.train.trainer import TrainingInterrupted, TrainSettings, train
    from attnlab.vlm import data as D
    from attnlab.vlm import metrics as M
    from attnlab.vlm import predict as P
    from attnlab.vlm import train as vt
    from attnlab.vlm.configuration import AttnViTConfig
    from attnlab.vlm.modeling import AttnViTModel
    from attnlab.vlm.processor import build_processor, image_token_id
    from attnlab.vlm.synth import synthesize_splits

    cfg = copy.deepcopy(yaml.safe_load((ROOT / "config/config.yaml").read_text())["vlm"])
    for s in a.set:
        set_key(cfg, s)
    print("vlm block:", cfg, flush=True)
    c0 = time.process_time()
    synth_params = {**cfg["data"], "n": {**cfg["data"]["n"], "dev": a.n_dev, "test": 0}, "seed": a.seed,
                    "prior_seed": 0}
    key_d = config_hash(synth_params)
    cdir = a.cache / f"synth-{key_d}" if a.cache else None
    if cdir and (cdir / "dev.parquet").exists():
        from attnlab.vlm.data import make_prior
        frames = {s: read_parquet(cdir / f"{s}.parquet") for s in ("train", "dev")}
        prior = make_prior(0, float(cfg["data"]["prior_strength"]))
        print(f"synth: cached ({cdir})", flush=True)
    else:
        frames, prior = synthesize_splits(synth_params)
        if cdir:
            cdir.mkdir(parents=True, exist_ok=True)
            for s in ("train", "dev"):
                write_parquet(cdir / f"{s}.parquet", frames[s])
        print(f"synth: {time.process_time() - c0:.1f} CPU s", flush=True)
    train_df, dev = frames["train"], frames["dev"]
    proc = build_processor()
    vc = AttnViTConfig(**cfg["model"]["vision"])
    tc = AttnLMConfig(**cfg["model"]["text"], vocab_size=len(proc.tokenizer), pad_token_id=0, bos_token_id=2,
                      eos_token_id=3)
    max_count = cfg.get("max_count", 6)

    def settings(stage: str, **kw) -> TrainSettings:
        return TrainSettings.from_dict({**cfg["stages"][stage], **kw})

    work = Path(tempfile.mkdtemp(prefix="vlm-curve-"))
    cpu_total = 0.0

    def cached(stage, model, key):
        """Load the stage's weights from the cache (True) or note where to save them (False)."""
        nonlocal cpu_total
        d = a.cache / f"{stage}-{key}" if a.cache else None
        if d and (d / "cpu.json").exists():
            load_model(model, str(d / "model.safetensors"))
            cpu = json.loads((d / "cpu.json").read_text())["cpu"]
            cpu_total += cpu
            print(f"  {stage}: cached ({d}; {cpu:.0f} CPU s when trained); train CPU so far {cpu_total:.0f} s",
                  flush=True)
            return True
        return False

    def save_cached(stage, model, key, cpu):
        if a.cache:
            d = a.cache / f"{stage}-{key}"
            d.mkdir(parents=True, exist_ok=True)
            save_model(model, str(d / "model.safetensors"))
            (d / "cpu.json").write_text(json.dumps({"cpu": cpu}))

    def run(stage, model, examples, marks=None, score=None, fit=None):
        """Train `fit` (default `model`; a loss wrapper around it) and score `model` at each mark."""
        nonlocal cpu_total
        fit = model if fit is None else fit
        every = (marks[1] - marks[0]) if marks and len(marks) > 1 else (marks[0] if marks else 0)
        s = settings(stage, log_every=50, checkpoint_every=every, keep_checkpoints=1)
        batches = vt.StepBatches(examples, s.batch_size, a.seed)
        marks = marks or [s.steps]
        for mark in marks:
            c = time.process_time()
            try:
                train(fit, batches, s, work / stage, progress=False, stop_after=mark if mark < s.steps else None)
            except TrainingInterrupted:
                pass
            cpu_total += time.process_time() - c
            sc = score(model) if score else {}
            model.train()
            print(f"  {stage} step {mark}/{s.steps}: train CPU so far {cpu_total:.0f} s; "
                  + ", ".join(f"{k} {v:.3f}" for k, v in sc.items()), flush=True)

    # V
    torch.manual_seed(a.seed)
    vis = vt.VisionPretrainer(AttnViTModel(vc), max_count, cfg.get("patch_weight", 1.0))
    ex_v = P.tower_examples(proc, train_df, max_count)
    ex_vdev = P.tower_examples(proc, dev, max_count)
    pope_dev = dev[(dev.task == "existence") & (dev.pope_split == "random")]
    qp = P.tower_examples(proc, pope_dev, max_count)  # distinct images of the questions, in order
    imgs = {bytes(x): i for i, x in enumerate(pope_dev.drop_duplicates(subset="image").image)}

    @torch.no_grad()
    def tower_score(m):
        m.eval()
        acc = P.tower_accuracy(m, ex_vdev)
        b = ex_vdev.batch(np.arange(len(ex_vdev)))
        pred = m(b["pixel_values"]).patch.argmax(-1)  # (N, patches)
        keep = b["patch"] != D.PATCH_IGNORE
        acc["patch_acc"] = float((pred == b["patch"])[keep].float().mean())
        named = torch.zeros(len(pred), D.PATCH_BACKGROUND + 1, dtype=torch.bool).scatter_(1, pred, True)
        acc["patch_set"] = float((named[:, :D.PATCH_BACKGROUND] == b["present"]).all(-1).float().mean())
        # POPE-random from the patch head: yes when some patch is classified as the asked type
        qb = qp.batch(np.arange(len(qp)))
        qpred = m(qb["pixel_values"]).patch.argmax(-1)
        yes = [bool((qpred[imgs[bytes(r.image)]] == D.TYPES.index(r.prompt.split("is there a ")[1].rstrip(" ?"))).any())
               for r in pope_dev.itertuples()]
        acc["patch_pope"] = float(np.mean([("yes" if y else "no") == a for y, a in zip(yes, pope_dev.answer)]))
        return acc

    v_steps = cfg["stages"]["V"]["steps"]
    v_marks = sorted({*range(a.v_every, v_steps + 1, a.v_every), v_steps}) if a.v_every else None
    # V and T weights are keyed on the data settings WITHOUT data.s_mix: T's rows do not depend on it (S's rows
    # are drawn last), V's images do (S's rows carry images), so a curve that changes only s_mix reuses a
    # tower trained on the design mix's images (the same number of draws from the same distribution)
    key_base = config_hash({k: v for k, v in synth_params.items() if k != "s_mix"})
    key_v = config_hash([key_base, cfg["model"]["vision"], cfg["stages"]["V"], max_count, cfg.get("patch_weight", 1.0)])
    if not cached("V", vis, key_v):
        c = cpu_total
        run("V", vis, ex_v, marks=v_marks, score=tower_score)
        save_cached("V", vis, key_v, cpu_total - c)
    # T
    torch.manual_seed(a.seed)
    lm = AttnLMForCausalLM(tc)
    key_t = config_hash([key_base, cfg["model"]["text"], cfg["stages"]["T"]])
    if not cached("T", lm, key_t):
        c = cpu_total
        ex_t = vt.text_examples(proc, vt.stage_rows(train_df, "T"), 0, with_images=False, answer_only=False)
        run("T", lm, ex_t)
        save_cached("T", lm, key_t, cpu_total - c)
    # A, S
    vlm = vt.assemble_vlm(vis.tower, lm, image_token_id(proc), a.seed, **cfg["model"].get("vlm", {}))
    n = vlm.config.image_seq_length
    caps = dev[dev.task == "caption"].head(a.captions)
    vqa_dev = dev[dev.task.isin(["attribute", "hidden_identity"])]

    yes_no_ids = proc.tokenizer.convert_tokens_to_ids(["yes", "no"])

    @torch.no_grad()
    def pope_auc(model, frame):
        """ROC AUC of the first answer token's logit(yes) - logit(no) against the truth: whether the
        answer depends on the image at all, even where greedy decoding says "yes" (or "no") to every
        question (0.5: no signal; the accuracy of the best threshold is bounded by it)."""
        seqs = [P.prompt_ids(proc, q, n) for q in frame.prompt]
        T = max(len(x) for x in seqs)
        ids = torch.full((len(seqs), T), 0, dtype=torch.long)
        mask = torch.zeros(len(seqs), T, dtype=torch.long)
        for i, x in enumerate(seqs):
            ids[i, T - len(x):], mask[i, T - len(x):] = torch.tensor(x), 1
        logits = model(input_ids=ids, pixel_values=vt.pixel_tensor(proc, list(frame.image)), attention_mask=mask,
                       answer_start=T).logits[:, -1]
        margin = (logits[:, yes_no_ids[0]] - logits[:, yes_no_ids[1]]).numpy()
        pos, neg = margin[(frame.answer == "yes").to_numpy()], margin[(frame.answer == "no").to_numpy()]
        return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())

    def score(model):
        model.eval()
        pp = P.predict(model, proc, pope_dev)
        # the same questions, each paired with another question's image: equal to pope_random when the
        # model does not read the image
        shuffled = pope_dev.assign(image=list(np.roll(pope_dev.image.to_numpy(), 1)))
        ps = P.predict(model, proc, shuffled)
        cp = P.predict(model, proc, caps)
        vp = P.predict(model, proc, vqa_dev)
        ch = M.chair(cp, [D.scene_of(r) for r in caps.itertuples()], prior.companion)
        return {"pope_random": M.pope_scores(pp, pope_dev.answer)["accuracy"],
                "yes_ratio": M.pope_scores(pp, pope_dev.answer)["yes_ratio"],
                "pope_shuffled_image": M.pope_scores(ps, pope_dev.answer)["accuracy"],
                "pope_auc": pope_auc(model, pope_dev), "pope_auc_shuffled": pope_auc(model, shuffled),
                "precision": 1 - ch["chair_i"], "chair_i": ch["chair_i"], "chair_s": ch["chair_s"],
                "recall": ch["recall"], "unparseable": ch["unparseable_rate"],
                "vqa": float(M.exact_match(vp, vqa_dev.answer).mean())}

    ex_a = vt.text_examples(proc, vt.stage_rows(train_df, "A"), n, with_images=True, answer_only=True)
    # vlm.loss_per_example: A and S train through the per-example mean (attnlab.vlm.train.PerExampleLoss)
    fit = vt.PerExampleLoss(vlm) if cfg.get("loss_per_example") else vlm
    vt.freeze_for_stage(vlm, "A", bool(cfg.get("align_trains_lm", False)))
    run("A", vlm, ex_a, score=score, fit=fit)
    ex_s = vt.text_examples(proc, vt.stage_rows(train_df, "S"), n, with_images=True, answer_only=True)
    vt.freeze_for_stage(vlm, "S")
    steps = cfg["stages"]["S"]["steps"]
    run("S", vlm, ex_s, marks=sorted({*range(a.every, steps + 1, a.every), steps}), score=score, fit=fit)
    print(f"total training CPU {cpu_total:.0f} s (scoring excluded); bars: POPE-random >= 0.80, "
          f"caption object precision >= 0.75", flush=True)


if __name__ == "__main__":
    main()

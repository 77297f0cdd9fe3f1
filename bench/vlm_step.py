"""Seconds per optimizer step of each VLM training stage at the design's mini shapes (vlm_design §4).

    nice -n 19 python bench/vlm_step.py [--steps 6] [--n-train 200]

One torch thread. Data: a small attnlab.vlm.data frame (prior 0.6, seed 0). Model: ViT d=128,
4 layers × 4 heads (64 patches + CLS); LM d=128, 6 layers × 4 heads, RoPE θ=500; projector
128→128→128. Stages: S and A at batch 16 (A: projector only), T at batch 32 (text), V at batch 32
(tower + heads). Prints the median wall and CPU (process) seconds per step after two warm-up steps;
the CPU figure is the one to compare on a loaded machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--n-train", type=int, default=200)
    a = ap.parse_args()
    torch.set_num_threads(1)

    from attnlab.lm.configuration import AttnLMConfig
    from attnlab.lm.modeling import AttnLMForCausalLM
    from attnlab.train.trainer import TrainSettings, make_optimizer
    from attnlab.vlm import data as D
    from attnlab.vlm import train as vt
    from attnlab.vlm.configuration import AttnViTConfig
    from attnlab.vlm.modeling import AttnViTModel
    from attnlab.vlm.processor import build_processor, image_token_id

    frame = D.synthesize(0, D.make_prior(0, 0.6), n_train=a.n_train, n_dev=0, n_test=0)["train"]
    proc = build_processor()
    torch.manual_seed(0)
    tower = AttnViTModel(AttnViTConfig(n_embd=128, n_layer=4, n_head=4))
    lm = AttnLMForCausalLM(AttnLMConfig(vocab_size=len(proc.tokenizer), n_embd=128, n_layer=6, n_head=4,
                                        position_encoding="rope", rope_theta=500.0, pad_token_id=0, bos_token_id=2,
                                        eos_token_id=3))
    vlm = vt.assemble_vlm(tower, lm, image_token_id(proc), seed=0)
    rows = {st: frame[frame.stage == st].to_dict("records") for st in ("T", "A", "S")}
    ex_s = vt.text_examples(proc, rows["S"], 64, True, True)
    ex_a = vt.text_examples(proc, rows["A"], 64, True, True)
    ex_t = vt.text_examples(proc, rows["T"], 0, False, False)
    imgs = frame[frame.image.notna()].drop_duplicates(subset="image")
    ex_v = vt.vision_examples(proc, list(imgs.image), [D.vision_targets(D.scene_of(r)) for r in imgs.itertuples()], 6)
    settings = TrainSettings(steps=1, batch_size=16, lr=1e-3)

    def timeit(model, batches):
        opt = make_optimizer(model, settings)
        wall, cpu = [], []
        for i in range(a.steps + 2):
            b = batches(i)
            t, c = time.perf_counter(), time.process_time()
            model(**b).loss.backward()
            opt.step()
            opt.zero_grad()
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        return statistics.median(wall[2:]), statistics.median(cpu[2:])

    print(f"VLM params {sum(p.numel() for p in vlm.parameters())}, S sequence length median "
          f"{int(np.median([len(x) for x in ex_s.ids]))}")
    for stage, model, ex, batch in (("S", vlm, ex_s, 16), ("A", vlm, ex_a, 16), ("T", lm, ex_t, 32),
                                    ("V", vt.VisionPretrainer(tower, 6), ex_v, 32)):
        if stage in ("A", "S"):
            vt.freeze_for_stage(model, stage)
        wall, cpu = timeit(model, vt.StepBatches(ex, batch, 0))
        print(f"stage {stage} batch {batch}: {wall:.3f} s/step wall, {cpu:.3f} s/step CPU")


if __name__ == "__main__":
    main()

"""Train many models of one configuration in one process, as one stack.

    records = train_stack(models, [batches_0, batches_1, ...], TrainSettings(...), work_dir)

Member i is `models[i]` (its own initialisation) fed by `get_batches[i]` (its own data and batch
order, a function of the step alone as in attnlab.train.data). Each member trains as
`attnlab.train.trainer.train` would train it alone:
- its loss (language-modelling loss plus the mechanism's auxiliary loss, e.g. MoH load balance) is
  its own, and so is its gradient;
- gradient clipping uses the member's own global norm;
- AdamW is elementwise, so one optimizer over all members keeps per-member moments, and weight
  decay goes to the same parameters as alone (matrices, not biases/norms/scalars);
- the warm-up + cosine schedule is a function of the step, shared by construction.
Nothing random happens inside a training step (no dropout), so a member's random stream is its
data sampler's, seeded by (its seed, step).

Two engines (`engine=`):
- "loop": each step runs the members one after another through their own modules; the arithmetic
  is the solo trainer's, so every member ends bit-identical to a solo run (CPU, fp32). The stack
  saves one process start and the per-process costs per member.
- "vmap": the members' parameters are stacked along a new leading dimension and one
  forward/backward runs them all: `torch.func.functional_call` of the shared model code under
  `torch.func.vmap` (every Linear one batched matmul). Member i of a stack is bit-identical to a
  stack of member i alone, and equal to a solo run up to float rounding (vmap's LayerNorm weight
  gradient sums in another order; Adam amplifies such differences over hundreds of steps). On our
  2-core CPU at the mini shapes its batched matmuls ran slower than the loop's
  (bench/train_throughput.py measures both); it is there for wider stacks and GPUs.
Batches of different lengths (vmap): members whose batches have the same length run in one call.
If the model's function on real tokens is unchanged by extra right padding (RIGHT_PAD_INVARIANT),
all batches are right-padded to the longest (PAD inputs, no targets) and run as one call instead.

Checkpoints (every `checkpoint_every` steps, and on SIGTERM/SIGUSR1) hold the whole stack —
weights, AdamW moments, step and RNG state of every member — in `work_dir/checkpoints/step{N}`;
killing the stack and rerunning resumes every member. Each member's log records (the solo
trainer's fields) go to its own `log_dirs[i]/train_log.jsonl`. One process, no DDP.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from attnlab import AttnlabError
from attnlab.io import write_jsonl_line
from attnlab.tasks.vocab import PAD
from attnlab.train.checkpoint import checkpoint_identity, latest_checkpoint, load_checkpoint, save_checkpoint
from attnlab.train.schedule import warmup_cosine
from attnlab.train.trainer import (
    LOG,
    TrainingInterrupted,
    TrainingPreempted,
    TrainSettings,
    _read_log,
    _StopRequests,
    autocast_for,
    make_optimizer,
    pick_device,
)

# Mechanisms whose outputs and losses at real positions do not change when a batch gets extra
# right padding (PAD inputs without targets): causal attention never looks right. Not here:
# sigmoid (its bias −log T depends on the padded length), moh (its load-balance statistics average
# over every position, padding included) and dynamic_mask (top-k among tied key scores — all tie at
# initialisation, A = 0 — picks different keys for different lengths). tests/unit/test_stack.py
# checks the list against every registered mechanism. (performer and abc: causal prefix sums; decay and
# lightnet: causal scans; superlinear: spans of visible keys only; gaam, rcmha, grassmann: causal windows.)
RIGHT_PAD_INVARIANT = frozenset({"softmax", "sliding_window", "meta", "pine", "prefix_lm", "performer", "abc",
                                 "superlinear", "grassmann", "gaam", "rcmha", "lightnet", "decay"})


class StackedParameters(nn.Module):
    """The members' parameters stacked along dim 0, as one module (so that checkpoints, optimizer
    and device moves work on it as on any model). Names are the model's, '.' written as '__'."""

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        named = [dict(m.named_parameters()) for m in models]  # tied weights appear once
        self.names = list(named[0])
        for n in named[1:]:
            if list(n) != self.names or any(n[k].shape != named[0][k].shape for k in self.names):
                raise AttnlabError("a training stack needs members of one architecture (same parameters)")
        self.stacked = nn.ParameterDict({
            k.replace(".", "__"): nn.Parameter(torch.stack([n[k].detach() for n in named]).contiguous())
            for k in self.names})

    def tensors(self) -> dict[str, torch.Tensor]:
        """{model parameter name: (members, *shape) tensor}."""
        return {k: self.stacked[k.replace(".", "__")] for k in self.names}

    def write_back(self, models: Sequence[nn.Module]) -> None:
        """Copy member i's slice of every stacked parameter into `models[i]`."""
        with torch.no_grad():
            for i, m in enumerate(models):
                own = dict(m.named_parameters())
                for k, v in self.tensors().items():
                    own[k].copy_(v[i])


def make_stack_optimizer(params: StackedParameters, s: TrainSettings) -> torch.optim.AdamW:
    """AdamW over the stacked tensors, decay exactly where `trainer.make_optimizer` puts it: on
    parameters that are matrices in one member (stacked: dim >= 3)."""
    tensors = list(params.parameters())
    groups = [{"params": [p for p in tensors if p.dim() >= 3], "weight_decay": s.weight_decay},
              {"params": [p for p in tensors if p.dim() < 3], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=s.lr, betas=(s.beta1, s.beta2))


def clip_members_(params: StackedParameters, max_norm: float) -> torch.Tensor:
    """Clip each member's gradients by its own global norm; return the (members,) norms before
    clipping. Per member, the same calls as `torch.nn.utils.clip_grad_norm_` on a solo model."""
    grads = [p.grad for p in params.tensors().values() if p.grad is not None]
    members = grads[0].shape[0]
    norms = []
    for i in range(members):
        own = [g[i] for g in grads]  # views into the stacked gradients
        norm = torch.nn.utils.get_total_norm(own, 2.0)
        torch.nn.utils.clip_grads_with_norm_(own, max_norm if max_norm > 0 else float("inf"), norm)
        norms.append(norm)
    return torch.stack(norms)


def pad_right(batch: dict, length: int, pad_id: int = PAD) -> dict:
    """Right-pad input_ids with `pad_id` and labels with -100 (no target) to `length`."""
    ids, labels = batch["input_ids"], batch["labels"]
    extra = length - ids.shape[1]
    if extra == 0:
        return batch
    return {"input_ids": torch.nn.functional.pad(ids, (0, extra), value=pad_id),
            "labels": torch.nn.functional.pad(labels, (0, extra), value=-100)}


class StackLoss:
    """Per-member losses of one step: `(batches) -> {"loss", "lm_loss"[, "aux_loss"]}`, each (members,)."""

    def __init__(self, template: nn.Module, params: StackedParameters, autocast, pad_invariant: bool):
        self.template, self.params, self.autocast, self.pad_invariant = template, params, autocast, pad_invariant

        def member_loss(p, input_ids, labels):
            with self.autocast():
                out = functional_call(self.template, p, (), {"input_ids": input_ids, "labels": labels})
            parts = {"loss": out.loss, "lm_loss": out.lm_loss}
            if out.aux_loss is not None:
                parts["aux_loss"] = out.aux_loss
            return parts

        self.fn = vmap(member_loss)

    def groups(self, batches: list[dict]) -> list[tuple[list[int], dict]]:
        """Members that run in one vmap call, and their stacked batches."""
        lengths = [b["input_ids"].shape[1] for b in batches]
        if self.pad_invariant or len(set(lengths)) == 1:
            T = max(lengths)
            order = [list(range(len(batches)))]
            batches = [pad_right(b, T) for b in batches]
        else:
            order = [[i for i, t in enumerate(lengths) if t == T] for T in sorted(set(lengths))]
        return [(idx, {k: torch.stack([batches[i][k] for i in idx]) for k in ("input_ids", "labels")})
                for idx in order]

    def __call__(self, batches: list[dict]) -> dict[str, torch.Tensor]:
        members = len(batches)
        stacked = self.params.tensors()
        out: dict[str, torch.Tensor] = {}
        for idx, batch in self.groups(batches):
            if len(idx) == members:
                p = stacked
            else:  # a subset: indexing keeps the gradient path to the stacked leaves
                sel = torch.tensor(idx, device=batch["input_ids"].device)
                p = {k: v.index_select(0, sel) for k, v in stacked.items()}
            parts = self.fn(p, batch["input_ids"], batch["labels"])
            if len(idx) == members:
                return parts
            for k, v in parts.items():
                out.setdefault(k, [None] * members)
                for j, i in enumerate(idx):
                    out[k][i] = v[j]
        return {k: torch.stack(v) for k, v in out.items()}


class LoopEngine:
    """Members one after another inside each step (their own modules, one AdamW holding every
    member's parameter groups): the solo trainer's arithmetic exactly, so bit-identical to
    `trainer.train` on the CPU; one process and one set of per-step costs for the stack."""

    name = "loop"

    def __init__(self, models: Sequence[nn.Module], s: TrainSettings, device: torch.device, autocast):
        self.models, self.autocast = list(models), autocast
        self.module = nn.ModuleList(self.models).to(device)  # what checkpoints hold
        self.forwards = [torch.compile(m) if s.compile else m for m in self.models]
        groups = [g for m in self.models for g in make_optimizer(m, s).param_groups]
        self.opt = torch.optim.AdamW(groups, lr=s.lr, betas=(s.beta1, s.beta2))

    def losses_backward(self, batches: list[dict]) -> dict[str, torch.Tensor]:
        parts: dict[str, list] = {}
        for forward, b in zip(self.forwards, batches):
            with self.autocast():
                out = forward(**b)
            out.loss.backward()
            for k in ("loss", "lm_loss", "aux_loss"):
                if getattr(out, k, None) is not None:
                    parts.setdefault(k, []).append(getattr(out, k).detach())
        return {k: torch.stack(v) for k, v in parts.items()}

    def clip(self, max_norm: float) -> torch.Tensor:
        return torch.stack([torch.nn.utils.clip_grad_norm_(m.parameters(), max_norm if max_norm > 0 else float("inf"))
                            for m in self.models])

    def train(self):
        self.module.train()

    def finish(self):
        """Nothing to copy: the members' own modules were trained."""


class VmapEngine:
    """All members in one forward/backward: stacked parameters, `functional_call` under `vmap`
    (every Linear one batched matmul). Equal to training alone up to float rounding (vmap's
    LayerNorm weight gradient sums in another order); member i of a stack is bit-identical to a
    stack of member i alone."""

    name = "vmap"

    def __init__(self, models: Sequence[nn.Module], s: TrainSettings, device: torch.device, autocast):
        if s.compile:
            raise AttnlabError("train.compile is supported by the loop engine only (compiling the vmapped "
                               "step is untested)")
        self.models = list(models)
        self.template = self.models[0].to(device)
        self.module = StackedParameters(self.models).to(device)
        self.opt = make_stack_optimizer(self.module, s)
        attention = getattr(getattr(self.template, "config", None), "attention", None)
        self.loss = StackLoss(self.template, self.module, autocast, attention in RIGHT_PAD_INVARIANT)

    def losses_backward(self, batches: list[dict]) -> dict[str, torch.Tensor]:
        parts = self.loss(batches)
        parts["loss"].sum().backward()  # d(sum)/d(member i) is member i's own gradient
        return {k: v.detach() for k, v in parts.items()}

    def clip(self, max_norm: float) -> torch.Tensor:
        return clip_members_(self.module, max_norm)

    def train(self):
        self.template.train()

    def finish(self):
        self.module.write_back(self.models)


ENGINES = {"loop": LoopEngine, "vmap": VmapEngine}


def train_stack(models: Sequence[nn.Module], get_batches: Sequence[Callable[[int], dict]],
                settings: TrainSettings, work_dir: str | os.PathLike, *, engine: str = "loop",
                log_dirs: Sequence[str | os.PathLike] | None = None, run_key: str = "", progress: bool = True,
                desc: str = "stack", stop_after: int | None = None) -> list[list[dict]]:
    """Train `models` (one architecture, one member each) in place for `settings.steps` steps;
    member i draws `get_batches[i](step)`. `engine`: "loop" or "vmap" (see ENGINES). Resumes from
    the newest checkpoint under `work_dir/checkpoints` written for the same run (`run_key`,
    settings, engine, member count); others are discarded. Returns each member's log records (also
    written to `log_dirs[i]/train_log.jsonl`, default `work_dir/member{i}/`)."""
    s = settings
    if not models or len(models) != len(get_batches):
        raise AttnlabError(f"a training stack needs one batch source per member: {len(models)} models, "
                           f"{len(get_batches)} batch sources")
    if engine not in ENGINES:
        raise AttnlabError(f"unknown stack engine {engine!r}; choose from {sorted(ENGINES)}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise AttnlabError("stacked training runs in one process; use attnlab.train.lm under torchrun for DDP")
    M = len(models)
    work_dir = Path(work_dir)
    log_dirs = [Path(d) for d in log_dirs] if log_dirs is not None else [work_dir / f"member{i}" for i in range(M)]
    if len(log_dirs) != M:
        raise AttnlabError(f"{len(log_dirs)} log directories for {M} members")
    for d in [work_dir, *log_dirs]:
        d.mkdir(parents=True, exist_ok=True)
    device = pick_device(s.device)
    eng = ENGINES[engine](models, s, device, lambda: autocast_for(device, s))

    start, wall_before, tokens = 0, 0.0, [0] * M
    identity = {"run_key": run_key, "settings": asdict(s), "engine": engine, "members": M}
    root = work_dir / "checkpoints"
    ckpt = latest_checkpoint(root)
    if ckpt is not None and _identity(ckpt) != identity:
        shutil.rmtree(root, ignore_errors=True)
        ckpt = None
    if ckpt is not None:
        state = load_checkpoint(ckpt, eng.module, eng.opt, device)
        start, wall_before, tokens = state["step"], state.get("wall_time_s", 0.0), state["tokens"]
    records = [_read_log(d / LOG, upto=start) for d in log_dirs]
    for d, recs in zip(log_dirs, records):  # drop records of steps after the checkpoint
        with open(d / LOG, "w") as fh:
            for r in recs:
                write_jsonl_line(fh, r)

    eng.train()
    t0 = time.perf_counter() - wall_before
    bar = tqdm(range(start + 1, s.steps + 1), desc=desc, disable=not progress, mininterval=5.0,
               initial=start, total=s.steps)
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(open(d / LOG, "a")) for d in log_dirs]
        stop = stack.enter_context(_StopRequests())
        for step in bar:
            lr = warmup_cosine(step, lr=s.lr, total_steps=s.steps, warmup_steps=s.warmup_steps,
                               min_lr_ratio=s.min_lr_ratio)
            for group in eng.opt.param_groups:
                group["lr"] = lr
            batches = [{k: v.to(device, non_blocking=True) for k, v in gb(step).items()} for gb in get_batches]
            parts = eng.losses_backward(batches)
            grad_norm = eng.clip(s.grad_clip)
            eng.opt.step()
            eng.opt.zero_grad(set_to_none=True)
            tokens = [n + int(b["input_ids"].numel()) for n, b in zip(tokens, batches)]
            if step % s.log_every == 0 or step == s.steps:
                wall = time.perf_counter() - t0
                values = {k: v.float().tolist() for k, v in parts.items()}
                norms = grad_norm.tolist()
                for i in range(M):
                    rec = {"step": step, "loss": values["loss"][i], "lr": lr, "grad_norm": norms[i],
                           "tokens": tokens[i], "wall_time_s": wall}
                    rec.update({k: values[k][i] for k in ("lm_loss", "aux_loss") if k in values})
                    records[i].append(rec)
                    write_jsonl_line(logs[i], rec)
                bar.set_postfix(loss=f"{sum(values['loss']) / M:.4f}")
            periodic = bool(s.checkpoint_every) and step % s.checkpoint_every == 0
            preempted = stop.signum is not None
            if (periodic or preempted) and step < s.steps:
                save_checkpoint(root, step, eng.module, eng.opt,
                                {"wall_time_s": time.perf_counter() - t0, "tokens": tokens, **identity},
                                keep=s.keep_checkpoints)
            if stop_after is not None and step == stop_after:
                raise TrainingInterrupted(f"stopped after step {step}")
            if preempted and step < s.steps:
                raise TrainingPreempted(stop.signum, step)
    eng.finish()
    for m in models:
        m.eval()
    return records


def _identity(ckpt: Path) -> dict:
    state = json.loads((ckpt / "state.json").read_text())
    return {**checkpoint_identity(ckpt), "engine": state.get("engine"), "members": state.get("members")}

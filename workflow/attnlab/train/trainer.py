"""The training loop: AdamW, linear warm-up + cosine decay, gradient clipping, resumable checkpoints.

    records = train(model, get_batch, TrainSettings(steps=1000, batch_size=32, lr=1e-3), work_dir)

`get_batch(step)` returns the batch of optimizer step `step` as a dict of tensors for the model
(input_ids, labels, ...). It must be a function of the step alone (see attnlab.train.data), which
is what makes a resumed run bit-identical to an uninterrupted one on the CPU.

Device and precision (`precision`): "auto" is CUDA with bf16 autocast when a GPU is there and fp32
on the CPU; "fp32" never autocasts; "bf16" autocasts to bf16 on either device (the CPU's
avx512_bf16 matmuls run ~2x the fp32 peak; the loss is always computed in fp32).
Data parallel: launch the same step under `torchrun --nproc_per_node=N` (NCCL on GPUs, gloo on the
CPU). Each rank trains on rows rank, rank+N, ... of every global batch (`batch_size` is the global
batch: it must divide by N) under DistributedDataParallel. The next-token loss of each rank is
weighted by its share of the global batch's target tokens, so the averaged gradient is the one
process's gradient and N processes end with one process's weights up to fp32 summation order
(tests/unit/test_ddp.py). Mechanism losses (`aux_loss`, e.g. MoH load balance) are batch statistics:
under DDP they are the mean of the per-rank values, not the whole batch's. Rank 0 alone writes the
log, the checkpoints and the progress bar; every rank loads the same checkpoint to resume, and a
SIGTERM on any rank stops all of them after the same step.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from attnlab import AttnlabError
from attnlab.io import write_jsonl_line
from attnlab.train.checkpoint import checkpoint_identity, latest_checkpoint, load_checkpoint, save_checkpoint
from attnlab.train.schedule import warmup_cosine

LOG = "train_log.jsonl"


@dataclass
class TrainSettings:
    steps: int
    batch_size: int
    lr: float
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    checkpoint_every: int = 0  # optimizer steps between checkpoints; 0: none
    keep_checkpoints: int = 2
    log_every: int = 50
    compile: bool = False  # torch.compile (first step costs ~20 s on CPU: pays only for long runs)
    device: str = "auto"  # "auto": cuda if available, else cpu
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "fp32" or "bf16"

    @classmethod
    def from_dict(cls, d: dict) -> "TrainSettings":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown train settings {sorted(unknown)}")
        return cls(**d)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


PRECISIONS = ("auto", "fp32", "bf16")


class TrainingInterrupted(RuntimeError):
    """Raised by `stop_after` (tests simulate a killed run with it)."""


class TrainingPreempted(RuntimeError):
    """SIGTERM or SIGUSR1 arrived (a SLURM time limit, `kill`, a preemption): a checkpoint of the
    last finished step was written; rerunning the same command resumes from it."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"stopped by {signal.Signals(signum).name} after step {step}; checkpoint written, "
                         "rerun to resume")
        self.signum, self.step = signum, step


class _StopRequests:
    """Turn SIGTERM/SIGUSR1 into a flag checked between optimizer steps (main thread only)."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.signum = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame):
        self.signum = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_for(device: torch.device, s: TrainSettings):
    """The autocast context of a training step (see the module docstring)."""
    if s.precision == "bf16" or (s.precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_optimizer(model: torch.nn.Module, s: TrainSettings) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only, not on biases, norms or per-head scalars (nanoGPT)."""
    params = [p for p in model.parameters() if p.requires_grad]
    unique = list({id(p): p for p in params}.values())  # tied weights once
    decay = [p for p in unique if p.dim() >= 2]
    no_decay = [p for p in unique if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=s.lr, betas=(s.beta1, s.beta2))


class _Distributed:
    """torchrun/DDP when WORLD_SIZE > 1; a no-op otherwise (every method leaves one process as is)."""

    def __init__(self, device: torch.device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = device
        self.owns_group = False  # destroy the process group at the end only if we created it
        if self.world > 1:
            import torch.distributed as dist

            if device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
                self.owns_group = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model):
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[self.device] if self.device.type == "cuda" else None)

    def shard(self, batch: dict) -> dict:
        if self.world == 1:
            return batch
        rows = {len(v) for v in batch.values()}
        if len(rows) != 1 or next(iter(rows)) % self.world:
            raise AttnlabError(f"the global batch ({sorted(rows)} rows) must divide by the {self.world} "
                               "processes: set train.batch_size to a multiple of --nproc_per_node")
        return {k: v[self.rank :: self.world] for k, v in batch.items()}

    def loss_to_backward(self, out, batch: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(loss, its next-token part): the loss whose DDP-averaged gradient is the whole batch's, the
        rank's mean next-token loss times (its target tokens / the batch's target tokens) x world, plus
        its mechanism loss. The mean over ranks of either part is the whole batch's value."""
        if self.world == 1 or getattr(out, "lm_loss", None) is None or "labels" not in batch:
            return out.loss, getattr(out, "lm_loss", None)
        import torch.distributed as dist

        targets = (batch["labels"][:, 1:] != -100).sum().to(torch.float64)  # as next_token_loss counts
        total = targets.clone()
        dist.all_reduce(total)
        weight = (targets * self.world / total).to(out.lm_loss.dtype)
        lm = out.lm_loss * weight if targets > 0 else out.lm_loss.nan_to_num() * 0.0
        aux = getattr(out, "aux_loss", None)
        return (lm if aux is None else lm + aux), lm

    def mean(self, value: torch.Tensor) -> float:
        """The mean over ranks of a per-rank scalar (for the log; a collective: every rank calls it)."""
        if self.world == 1:
            return value.item()
        import torch.distributed as dist

        value = value.detach().to(torch.float64).clone()
        dist.all_reduce(value)
        return value.item() / self.world

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one (a signal that reached some ranks only)."""
        if self.world == 1:
            return flag
        import torch.distributed as dist

        t = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def barrier(self):
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self):
        if self.owns_group:
            import torch.distributed as dist

            dist.barrier()
            if dist.is_initialized():
                dist.destroy_process_group()


def _read_log(path: Path, upto: int) -> list[dict]:
    """The records of a resumed run's log up to its checkpoint. A run killed while writing a record
    leaves a truncated last line: it is dropped (the steps after the checkpoint are redone); a bad
    line before the last is corruption and is named."""
    if not path.is_file():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    records = []
    for n, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if n == len(lines):
                break
            raise AttnlabError(f"{path}: line {n} is not JSON ({e.msg}); remove the run's checkpoints "
                               "to train it from scratch") from None
    return [r for r in records if r["step"] <= upto]


def train(model: torch.nn.Module, get_batch: Callable[[int], dict], settings: TrainSettings,
          work_dir: str | os.PathLike, *, run_key: str = "", progress: bool = True, desc: str = "train",
          stop_after: int | None = None) -> list[dict]:
    """Train `model` in place for `settings.steps` optimizer steps; resume from the newest checkpoint
    under `work_dir/checkpoints` if there is one written for the same run (same `run_key`, e.g. a
    hash of the model config, data and seed, and the same settings); checkpoints of another run are
    discarded. The log goes to `work_dir/train_log.jsonl`."""
    s = settings
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    dist = _Distributed(pick_device(s.device))
    device = dist.device
    model.to(device)
    opt = make_optimizer(model, s)
    start, wall_before, tokens = 0, 0.0, 0
    identity = {"run_key": run_key, "settings": asdict(s)}
    ckpt = latest_checkpoint(work_dir / "checkpoints")
    if ckpt is not None and checkpoint_identity(ckpt) != identity:
        dist.barrier()  # every rank has read the identity before rank 0 removes the checkpoints
        if dist.main:
            shutil.rmtree(work_dir / "checkpoints", ignore_errors=True)
        ckpt = None
    if ckpt is not None:
        state = load_checkpoint(ckpt, model, opt, device)
        start, wall_before, tokens = state["step"], state.get("wall_time_s", 0.0), state.get("tokens")
    records = _read_log(work_dir / LOG, upto=start)
    if dist.main:
        with open(work_dir / LOG, "w") as fh:  # drop records of steps after the checkpoint
            for r in records:
                write_jsonl_line(fh, r)
    forward = dist.wrap(torch.compile(model) if s.compile else model)
    model.train()
    t0 = time.perf_counter() - wall_before
    if tokens is None:  # a checkpoint from before tokens were stored: count from the last record
        tokens = records[-1]["tokens"] if records else 0
    bar = tqdm(range(start + 1, s.steps + 1), desc=desc, disable=not (progress and dist.main),
               mininterval=5.0, initial=start, total=s.steps)
    log = open(work_dir / LOG, "a") if dist.main else None
    stop = _StopRequests().__enter__()
    try:
        for step in bar:
            lr = warmup_cosine(step, lr=s.lr, total_steps=s.steps, warmup_steps=s.warmup_steps,
                               min_lr_ratio=s.min_lr_ratio)
            for group in opt.param_groups:
                group["lr"] = lr
            batch = {k: v.to(device, non_blocking=True) for k, v in dist.shard(get_batch(step)).items()}
            with autocast_for(device, s):
                out = forward(**batch)
            loss, lm_loss = dist.loss_to_backward(out, batch)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip if s.grad_clip > 0 else float("inf"))
            opt.step()
            opt.zero_grad(set_to_none=True)
            tokens += int(batch["input_ids"].numel()) * dist.world
            if step % s.log_every == 0 or step == s.steps:
                rec = {"step": step, "loss": dist.mean(loss), "lr": lr, "grad_norm": float(grad_norm),
                       "tokens": tokens, "wall_time_s": time.perf_counter() - t0}
                for extra, value in (("lm_loss", lm_loss), ("aux_loss", getattr(out, "aux_loss", None))):
                    if value is not None:
                        rec[extra] = dist.mean(value)
                records.append(rec)
                bar.set_postfix(loss=f"{rec['loss']:.4f}")
                if log is not None:
                    write_jsonl_line(log, rec)
            periodic = bool(s.checkpoint_every) and step % s.checkpoint_every == 0
            preempted = dist.any(stop.signum is not None)
            if (periodic or preempted) and step < s.steps:
                if dist.main:
                    save_checkpoint(work_dir / "checkpoints", step, model, opt,
                                    {"wall_time_s": time.perf_counter() - t0, "tokens": tokens, **identity},
                                    keep=s.keep_checkpoints)
                dist.barrier()
            if stop_after is not None and step == stop_after:
                raise TrainingInterrupted(f"stopped after step {step}")
            if preempted and step < s.steps:
                raise TrainingPreempted(stop.signum or signal.SIGTERM, step)
    finally:
        stop.__exit__()
        if log is not None:
            log.close()
        del forward  # DDP's reducer holds the process group: free it before the group goes
    dist.close()  # only after a finished run: a failed rank's peers are ended by torchrun
    model.eval()
    return records

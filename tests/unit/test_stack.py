"""Stacked training: every member of a stack trains as it would alone (attnlab.train.stack)."""

import contextlib
import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForCausalLM

import attnlab.models  # noqa: F401
from attnlab import AttnlabError
from attnlab.attention import MECHANISMS
from attnlab.cli import StepArgs
from attnlab.io import write_parquet
from attnlab.tasks import TASKS
from attnlab.train import lm as lm_step
from attnlab.train import lm_stack
from attnlab.train.checkpoint import latest_checkpoint
from attnlab.train.data import RandomBatches, SequenceData, insert_meta_tokens
from attnlab.train.stack import RIGHT_PAD_INVARIANT, StackedParameters, StackLoss, pad_right, train_stack
from attnlab.train.trainer import TrainingInterrupted, TrainSettings, train

OPTIONS = {"softmax": {}, "sigmoid": {}, "sliding_window": {"window": 6}, "dynamic_mask": {"window": 6},
           "moh": {"shared_heads": 0, "active_heads": 1}, "meta": {"meta_token_id": 6},
           "pine": {"doc_token": 2, "query_token": 3}, "prefix_lm": {"marker": 3, "offset": 1},
           "performer": {"features": 8}, "abc": {"slots": 4}, "superlinear": {"span": 4, "top_k": 1},
           "grassmann": {"rank": 4, "windows": [1, 2, 4], "eps": 1e-3}, "gaam": {"gaussians": 2},
           "rcmha": {"conv": True, "relative": True}, "lightnet": {"chunk": 4}, "decay": {"scans": 2}}
SEEDS = [5, 6, 7]
# grad_clip 1.0: some steps clip and some do not, differently per member
SETTINGS = dict(steps=150, batch_size=4, lr=3e-3, warmup_steps=5, grad_clip=1.0, log_every=10)


def model_params(attention):
    return {"vocab_size": 40, "n_positions": 40, "n_embd": 16, "n_layer": 2, "n_head": 2, "attention": attention,
            "attention_options": OPTIONS[attention]}


@pytest.fixture(scope="module")
def datasets():
    """One task file per member (different data, not only a different order)."""
    return [SequenceData(TASKS["markov_mixture"].generate(24, seed=s, seq_len=20, n_states=32)) for s in SEEDS]


def sources(datasets, rate=0.1):
    return [RandomBatches(d, 4, seed=s + 100, transform=insert_meta_tokens(rate) if rate else None)
            for d, s in zip(datasets, SEEDS)]


def assert_same_weights(a, b):
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def without_wall(records):
    return [{k: v for k, v in r.items() if k != "wall_time_s"} for r in records]


@pytest.mark.parametrize("attention", ["moh", "meta"])
def test_loop_stack_equals_solo_runs_bit_identical(tmp_path, datasets, attention):
    """Each member: its own init, data, batch order (meta-tokens make lengths differ), optimizer
    state and clipping; final weights and log records equal a solo `train()` of that member."""
    s = TrainSettings(**SETTINGS)
    solo, solo_logs = [], []
    for i, (seed, src) in enumerate(zip(SEEDS, sources(datasets))):
        m = lm_step.build_model(model_params(attention), seed)
        solo_logs.append(train(m, src, s, tmp_path / f"solo{i}", progress=False))
        solo.append(m)
    models = [lm_step.build_model(model_params(attention), seed) for seed in SEEDS]
    logs = train_stack(models, sources(datasets), s, tmp_path / "stack", progress=False)
    for a, b, la, lb in zip(solo, models, solo_logs, logs):
        assert_same_weights(a, b)
        assert without_wall(la) == without_wall(lb)
    norms = [r["grad_norm"] for log in logs for r in log]
    assert min(norms) < 1.0 < max(norms)  # clipping was active on some steps only
    if attention == "moh":
        assert all("aux_loss" in r and r["aux_loss"] > 0 for log in logs for r in log)
    # members really differ (own seeds and data)
    assert not torch.equal(models[0].wte.weight, models[1].wte.weight)
    on_disk = [json.loads(x) for x in (tmp_path / "stack" / "member1" / "train_log.jsonl").read_text().splitlines()]
    assert on_disk == logs[1]


@pytest.mark.parametrize("attention", ["moh", "meta"])
def test_vmap_member_equals_a_stack_of_itself_bit_identical(tmp_path, datasets, attention):
    """No cross-talk in the batched engine: member i of three = member i trained alone by it."""
    s = TrainSettings(**{**SETTINGS, "steps": 100})
    rate = 0.0  # equal lengths: padding changes float rounding (covered by the gradient test below)
    alone = []
    for i, (seed, src) in enumerate(zip(SEEDS, sources(datasets, rate))):
        m = lm_step.build_model(model_params(attention), seed)
        train_stack([m], [src], s, tmp_path / f"alone{i}", engine="vmap", progress=False)
        alone.append(m)
    models = [lm_step.build_model(model_params(attention), seed) for seed in SEEDS]
    train_stack(models, sources(datasets, rate), s, tmp_path / "stack", engine="vmap", progress=False)
    for a, b in zip(alone, models):
        assert_same_weights(a, b)


@pytest.mark.parametrize("attention", sorted(OPTIONS))
def test_every_mechanism_runs_under_vmap_with_its_own_loss_and_gradients(datasets, attention):
    """One batched forward/backward = each member's own loss (MoH: with its load-balance loss) and
    gradients, also when the members' batches have different lengths."""
    models = [lm_step.build_model(model_params(attention), seed) for seed in SEEDS]
    batches = [src(3) for src in sources(datasets, rate=0.3)]
    assert len({b["input_ids"].shape[1] for b in batches}) > 1
    params = StackedParameters(models)
    parts = StackLoss(models[0], params, contextlib.nullcontext, attention in RIGHT_PAD_INVARIANT)(batches)
    parts["loss"].sum().backward()
    for i, (m, b) in enumerate(zip(models, batches)):
        out = m(**b)
        out.loss.backward()
        torch.testing.assert_close(parts["loss"][i], out.loss, rtol=1e-5, atol=1e-6)
        assert ("aux_loss" in parts) == (attention == "moh")
        if attention == "moh":
            torch.testing.assert_close(parts["aux_loss"][i], out.aux_loss, rtol=1e-5, atol=1e-7)
        for name, p in m.named_parameters():
            torch.testing.assert_close(params.tensors()[name].grad[i], p.grad, rtol=1e-4, atol=1e-7, msg=name)


@pytest.mark.parametrize("attention", sorted(MECHANISMS))
def test_right_pad_invariant_mechanisms_are_exactly_those(datasets, attention):
    model = lm_step.build_model(model_params(attention), 0)
    batch = sources(datasets, rate=0.0)[0](1)
    T = batch["input_ids"].shape[1]
    a, b = model(**batch), model(**pad_right(batch, T + 7))
    same = (torch.allclose(a.lm_loss, b.lm_loss, rtol=1e-6, atol=1e-7)
            and torch.allclose(a.logits, b.logits[:, :T], rtol=1e-5, atol=1e-6)
            and (a.aux_loss is None or torch.allclose(a.aux_loss, b.aux_loss, rtol=1e-6, atol=0)))
    assert same == (attention in RIGHT_PAD_INVARIANT)


@pytest.mark.parametrize("engine", ["loop", "vmap"])
def test_killed_stack_resumes_every_member_bit_identical(tmp_path, datasets, engine):
    s = TrainSettings(**{**SETTINGS, "steps": 30, "checkpoint_every": 8})

    def run(work, stop_after=None):
        models = [lm_step.build_model(model_params("moh"), seed) for seed in SEEDS]
        try:
            logs = train_stack(models, sources(datasets, 0.0), s, work, engine=engine, progress=False,
                               stop_after=stop_after)
        except TrainingInterrupted:
            return None, None
        return models, logs

    full, full_logs = run(tmp_path / "full")
    assert run(tmp_path / "killed", stop_after=20) == (None, None)
    assert latest_checkpoint(tmp_path / "killed" / "checkpoints").name == "step00000016"
    resumed, logs = run(tmp_path / "killed")
    for a, b, la, lb in zip(full, resumed, full_logs, logs):
        assert_same_weights(a, b)
        assert without_wall(la) == without_wall(lb)
        assert [r["step"] for r in lb] == [10, 20, 30]


def test_checkpoint_of_another_stack_is_discarded(tmp_path, datasets):
    s = TrainSettings(**{**SETTINGS, "steps": 12, "checkpoint_every": 4})
    models = [lm_step.build_model(model_params("softmax"), seed) for seed in SEEDS]
    with pytest.raises(TrainingInterrupted):
        train_stack(models, sources(datasets), s, tmp_path, run_key="a", progress=False, stop_after=6)
    ref = [lm_step.build_model(model_params("softmax"), seed) for seed in SEEDS]
    train_stack(ref, sources(datasets), s, tmp_path / "ref", run_key="b", progress=False)
    other = [lm_step.build_model(model_params("softmax"), seed) for seed in SEEDS]
    train_stack(other, sources(datasets), s, tmp_path, run_key="b", progress=False)
    for a, b in zip(ref, other):
        assert_same_weights(a, b)


def test_a_stack_needs_one_architecture_and_one_source_per_member(datasets, tmp_path):
    a = lm_step.build_model(model_params("softmax"), 0)
    b = lm_step.build_model({**model_params("softmax"), "n_embd": 8}, 0)
    with pytest.raises(AttnlabError, match="one architecture"):
        StackedParameters([a, b])
    with pytest.raises(AttnlabError, match="one batch source per member"):
        train_stack([a], sources(datasets), TrainSettings(**SETTINGS), tmp_path, progress=False)
    with pytest.raises(AttnlabError, match="unknown stack engine"):
        train_stack([a], sources(datasets)[:1], TrainSettings(**SETTINGS), tmp_path, engine="x", progress=False)


def write_task(path, seed):
    write_parquet(path, TASKS["copy"].generate(16, seed=seed, seq_len=21, n_symbols=8))
    return str(path)


def test_lm_stack_step_writes_each_members_solo_run_dir(tmp_path):
    """The CLI step: every member's run directory holds what `attnlab.train.lm` writes for that seed."""
    data = [write_task(tmp_path / f"d{i}.parquet", i) for i in range(2)]
    shared = {"model": {**model_params("softmax"), "vocab_size": TASKS["copy"].vocab_size(n_symbols=8)},
              "train": {"steps": 6, "batch_size": 4, "lr": 1e-3, "log_every": 2, "checkpoint_every": 2},
              "meta_token_rate": 0.1}
    seeds = [3, 4]
    run_dirs = [str(tmp_path / "stack" / f"seed{i}") for i in range(2)]
    lm_stack.main(StepArgs({"data": data}, {"run_dir": run_dirs},
                           {**shared, "members": [{"seed": s, "run_dir": r} for s, r in zip(seeds, run_dirs)]}))
    for i, (seed, d, r) in enumerate(zip(seeds, data, run_dirs)):
        solo = tmp_path / "solo" / f"seed{i}"
        lm_step.main(StepArgs({"data": [d]}, {"run_dir": [str(solo)]}, {**shared, "seed": seed}))
        names = {p.name for p in (tmp_path / "stack" / f"seed{i}").iterdir()}
        assert names == {p.name for p in solo.iterdir()}
        assert {"config.json", "model.safetensors", "train_log.jsonl"} <= names and "checkpoints" not in names
        a, b = load_file(solo / "model.safetensors"), load_file(f"{r}/model.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        log = [json.loads(x) for x in (solo / "train_log.jsonl").read_text().splitlines()]
        assert without_wall(log) == without_wall(
            [json.loads(x) for x in (tmp_path / "stack" / f"seed{i}" / "train_log.jsonl").read_text().splitlines()])
        assert json.loads((solo / "config.json").read_text()) == json.loads((tmp_path / "stack" / f"seed{i}" / "config.json").read_text())
        model = AutoModelForCausalLM.from_pretrained(r)
        assert model.generate(torch.tensor([[1, 8, 9, 2]]), max_new_tokens=3, do_sample=False).shape == (1, 7)


def test_lm_stack_members_set_only_their_seed_and_paths(tmp_path):
    """A stack shares its model and schedule (variants in one job run one stack each:
    attnlab.experiment.stacked_step); a member that sets anything else is refused, naming it."""
    data = [write_task(tmp_path / "d0.parquet", 0)]
    base = {"model": {**model_params("softmax"), "vocab_size": TASKS["copy"].vocab_size(n_symbols=8)},
            "train": {"steps": 2, "batch_size": 4, "lr": 1e-3}}
    for own in ({"lr": 1.0}, {"model": base["model"]}):
        with pytest.raises(AttnlabError, match=rf"sets \['{next(iter(own))}'\]"):
            lm_stack.main(StepArgs({"data": data}, {"run_dir": [str(tmp_path / "x")]},
                                   {**base, "members": [{"seed": 3, **own}]}))


def test_lm_stack_step_rejects_mismatched_members(tmp_path):
    base = {"model": model_params("softmax"), "train": {"steps": 2, "batch_size": 2, "lr": 1e-3}}
    with pytest.raises(AttnlabError, match="2 data paths for 1 members"):
        lm_stack.main(StepArgs({"data": ["a", "b"]}, {"run_dir": ["r"]}, {**base, "members": [{"seed": 1}]}))
    with pytest.raises(AttnlabError, match="names run_dir"):
        lm_stack.main(StepArgs({"data": ["a"]}, {"run_dir": ["r"]}, {**base, "members": [{"seed": 1, "run_dir": "x"}]}))
    with pytest.raises(AttnlabError, match="share a run_dir"):
        lm_stack.main(StepArgs({"data": ["a", "b"]}, {}, {**base, "members": [{"seed": 1, "run_dir": "r"},
                                                                          {"seed": 2, "run_dir": "r"}]}))
    with pytest.raises(AttnlabError, match="non-empty list"):
        lm_stack.main(StepArgs({"data": ["a"]}, {"run_dir": ["r"]}, base))


# --- OCR: the seeds of one configuration as one stack (attnlab.ocr.train) ------------------------

def ocr_reference(model, x, y, optimizer, lr, steps):
    """The plain full-batch loop, written out: what training one OCR model alone computes."""
    opt = {"adam": torch.optim.Adam, "gd": torch.optim.SGD}[optimizer](model.parameters(), lr=lr)
    for _ in range(steps):
        out = model(x, labels=y)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
    return out.loss.item()


@pytest.mark.parametrize("optimizer,lr", [("adam", 0.01), ("gd", 5.0)])
def test_ocr_stack_equals_each_member_trained_alone_bit_identical(optimizer, lr):
    from attnlab.ocr.synth import Vocabulary, n_subjects, synthesize
    from attnlab.ocr.train import build_model, tensors, train_stacked

    n, m = 4, 2
    size = Vocabulary(n_subjects(n, m, m), n).size
    data = [tensors(synthesize(n, m, m, seed=s), "train") for s in SEEDS]  # each member its own data
    run = {"parametrization": "factorized", "head_dim": 4}
    alone = [build_model(size, run, 0.01, seed=s) for s in SEEDS]
    losses = [ocr_reference(mdl, x, y, optimizer, lr, 200) for mdl, (x, y) in zip(alone, data)]
    stack = [build_model(size, run, 0.01, seed=s) for s in SEEDS]
    logs = train_stacked(stack, data, optimizer=optimizer, lr=lr, steps=200, log_every=50, progress=False)
    for a, b, loss, log in zip(alone, stack, losses, logs):
        assert_same_weights(a, b)
        assert log[-1]["step"] == 200 and log[-1]["loss"] == loss
    assert not torch.equal(stack[0].w_kq, stack[1].w_kq)


def test_ocr_train_step_with_members_writes_one_run_dir_per_seed(tmp_path):
    from attnlab.ocr import train as ocr_train
    from attnlab.ocr.synth import Vocabulary, n_subjects, synthesize

    n, m = 4, 2
    datas = []
    for s in (0, 1):
        datas.append(str(tmp_path / f"d{s}.parquet"))
        write_parquet(datas[-1], synthesize(n, m, m, seed=s))
    base = {"run": {"parametrization": "factorized", "head_dim": 4, "optimizer": "adam", "lr": 0.01, "steps": 20},
            "vocab_size": Vocabulary(n_subjects(n, m, m), n).size, "init_std": 0.01, "log_every": 10}
    stacked = [str(tmp_path / "stack" / f"seed{s}") for s in (0, 1)]
    ocr_train.main(StepArgs({"data": datas}, {"run_dir": stacked}, {**base, "members": [{"seed": 7}, {"seed": 8}]}))
    for d, r, seed in zip(datas, stacked, (7, 8)):
        solo = tmp_path / "solo" / f"seed{seed}"
        ocr_train.main(StepArgs({"data": [d]}, {"run_dir": [str(solo)]}, {**base, "seed": seed}))
        a, b = load_file(solo / "model.safetensors"), load_file(f"{r}/model.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert without_wall([json.loads(x) for x in (solo / "train_log.jsonl").read_text().splitlines()]) == \
            without_wall([json.loads(x) for x in open(f"{r}/train_log.jsonl").read().splitlines()])
        assert AutoModel.from_pretrained(r).config.head_dim == 4
    with pytest.raises(AttnlabError, match="one each"):
        ocr_train.main(StepArgs({"data": datas[:1]}, {"run_dir": stacked}, {**base, "members": [{"seed": 7}, {"seed": 8}]}))

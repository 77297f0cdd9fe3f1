"""The experiment contract: one `Experiment` record per paper, gathered in `attnlab.registry`.

A record holds everything the workflow needs to run one paper's experiment: the paper, its spec,
its steps (each becomes one Snakemake rule: `rules/experiments.smk` loops over the registry), its
figures, the spec's reference settings (from which every table's notes list the running config's
deviations, generated), and the parse-time checks of every cross-key constraint of its config
block. Path templates are written once, in the step that produces them; consumers refer to them.

Records are read when the Snakefile is parsed: nothing here (nor in any plan.py) imports torch.

    def steps(ctx: Context) -> list[Step]:
        return [Step("synth", "attnlab.tasks.synth", "synth", output={"data": DATA},
                     params=lambda w: synth_params(ctx.cfg, ctx.base_seed, int(w["seed"]))), ...]

    REFERENCE = {"mini": {"model.n_layer": 4, "active_fractions": Contains(0.5, 0.75)}, "full": {...}}
    EXPERIMENT = Experiment(id="moh", paper="...", steps=steps, figures=("load",), check=check,
                            reference=REFERENCE)
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from attnlab.cli import STACKED
from attnlab.config import ConfigError, config_hash

REFERENCE_SCALES = ("mini", "full")
ENVS = ("synth", "train", "diffusion", "analysis", "report")
TABLE_FORMATS = ("md", "csv", "tex", "html")
_WILDCARD = re.compile(r"(?<!\{)\{(\w+)(?:,[^}]*)?\}(?!\})")

Wildcards = Mapping[str, str]


def wildcards_of(template: str) -> list[str]:
    """Wildcard names in a path template, in order of appearance (`{{x}}` is not a wildcard)."""
    seen: list[str] = []
    for name in _WILDCARD.findall(template):
        if name not in seen:
            seen.append(name)
    return seen


# --- the spec's reference settings and the deviations of a running config --------------------------
#
# An experiment's `reference` maps a scale ("mini", "full") to the settings its spec states for that
# scale, as dotted keys into the experiment's config block ("model.n_embd", "task_params.mqar.n_keys",
# "tasks.0.n_pairs"); a key starting with "/" is read from the config root ("/vision.image_size").
# A reference value is a plain value (the running value must equal it) or one of the three forms
# below, for specs that state a range, an extent or a set rather than one value.

_NO_VALUE = object()


def _numbers(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


@dataclass(frozen=True)
class Within:
    """The spec states bounds ("K = 2-4", ">= 8k steps"): every running value lies in [lo, hi]."""

    lo: float | None = None
    hi: float | None = None

    def holds(self, value) -> bool:
        vals = _numbers(value)
        return all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   and (self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi) for v in vals)

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"{show(self.lo)}-{show(self.hi)}"
        return f">= {show(self.lo)}" if self.lo is not None else f"<= {show(self.hi)}"


@dataclass(frozen=True)
class Span:
    """The spec states a sweep's extent ("d_k in {16..512}", "M up to 2048"): the smallest running
    value is `lo` and the largest is `hi` (a bound left None is not checked)."""

    lo: float | None = None
    hi: float | None = None

    def holds(self, value) -> bool:
        vals = _numbers(value)
        if not vals:
            return False
        return (self.lo is None or _same(min(vals), self.lo)) and (self.hi is None or _same(max(vals), self.hi))

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"{show(self.lo)} to {show(self.hi)}"
        return f"up to {show(self.hi)}" if self.hi is not None else f"from {show(self.lo)}"


@dataclass(frozen=True)
class Contains:
    """The spec states a set of settings ("K in {8, 16, 32}", "list recall, copying, parity and
    counting"): the running list includes each of them (in any order; more is allowed)."""

    values: tuple

    def __init__(self, *values):
        object.__setattr__(self, "values", tuple(values))

    def holds(self, value) -> bool:
        have = _numbers(value)
        return all(any(_same(h, v) for h in have) for v in self.values)

    def __str__(self) -> str:
        return "includes " + ", ".join(show(v) for v in self.values)


REFERENCE_FORMS = (Within, Span, Contains)


def _same(a, b) -> bool:
    """Equality of config values: 64 == 64.0, but True is not 1; lists and mappings element-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def matches(value, spec) -> bool:
    """Whether a running value meets a reference value (plain: equal; Within/Span/Contains: theirs)."""
    return spec.holds(value) if isinstance(spec, REFERENCE_FORMS) else _same(value, spec)


def show(value) -> str:
    """A config value as the config file spells it: true/false, null, [4, 8], {a: 1}."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def lookup(config: dict, exp: str, key: str):
    """The running value of a dotted `key` of experiment `exp`'s block ("/..." from the config root);
    list elements by index ("tasks.0.n_pairs"). Returns _NO_VALUE when the config has no such key."""
    node: Any = config if key.startswith("/") else config["experiments"][exp]
    for part in key.lstrip("/").split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _NO_VALUE
    return node


def full_key(exp: str, key: str) -> str:
    """A reference or set_after_results key as a full dotted config key."""
    return key[1:] if key.startswith("/") else f"experiments.{exp}.{key}"


@dataclass(frozen=True)
class Step:
    """One job type of an experiment; becomes the rule `<experiment>_<name>`.

    The job runs `python -m <module> --input NAME PATH... --output NAME PATH... --params JSON`
    with the step's own inputs and outputs (the shared command line of `attnlab.cli`).
    """

    name: str
    module: str
    env: str  # envs/<env>.yaml
    output: Mapping[str, str | list[str]]  # named output templates, {wildcards} in braces
    input: Mapping[str, Any] | Callable[[Wildcards], Mapping[str, Any]] = field(default_factory=dict)
    params: Mapping[str, Any] | Callable[[Wildcards], Mapping[str, Any]] = field(default_factory=dict)
    directories: tuple[str, ...] = ()  # output names that are directories
    report: Mapping[str, tuple[str, str | dict]] = field(default_factory=dict)  # output -> (caption, labels)
    constraints: Mapping[str, str] = field(default_factory=dict)  # wildcard constraints
    threads: int | None = 1  # None: the config's `threads` (training steps)
    # a timing job: it holds every core the workflow was given (config `timing_cores`, null: all of
    # --cores), so no other job runs beside it; its process still runs the threads its params say
    exclusive: bool = False
    mem_mb: int = 1000
    runtime: int = 5  # minutes
    gpu: bool = False  # holds the `gpu` resource and runs under attnlab.gpuslots
    # processes of a multi-process (torch.distributed) job, an int or a function of the wildcards:
    # above 1 the step launches through torchrun (or srun + torchrun under the SLURM profile) and
    # asks for `tasks` (and `nodes`) resources; see launch_prefix
    tasks: int | Callable[[Wildcards], int] = 1
    nodes: int = 1
    # scheduling order (Snakemake priority; rules/common.smk::step_priority): None is synth 100,
    # training 10, the rest 0; a step known to be its track's longest job asks for more
    priority: int | None = None
    code: tuple[str, ...] = ()  # further modules whose source the job depends on
    # attention mechanisms (attnlab.attention.MECHANISMS) the job's models use: their files join
    # the code hash, so editing one mechanism reruns only the jobs whose models use it
    mechanisms: tuple[str, ...] | Callable[[Wildcards], tuple[str, ...]] = ()
    # further `--output NAME PATH...` the command takes but Snakemake does not track as files
    # (a run directory whose files are the declared outputs)
    cli_outputs: Callable[[Wildcards], Mapping[str, str | list[str]]] | None = None

    def __post_init__(self):
        if self.env not in ENVS:
            raise ValueError(f"step {self.name}: unknown env {self.env!r} (one of {ENVS})")
        unknown = set(self.directories) | set(self.report)
        unknown -= set(self.output)
        if unknown:
            raise ValueError(f"step {self.name}: {sorted(unknown)} are not outputs")

    def tasks_for(self, wildcards: Wildcards) -> int:
        return int(self.tasks(wildcards) if callable(self.tasks) else self.tasks)

    def inputs_for(self, wildcards: Wildcards) -> dict[str, Any]:
        return dict(self.input(wildcards) if callable(self.input) else self.input)

    def cli_outputs_for(self, wildcards: Wildcards) -> dict[str, Any]:
        return dict(self.cli_outputs(wildcards)) if self.cli_outputs else {}

    def mechanisms_for(self, wildcards: Wildcards) -> tuple[str, ...]:
        return tuple(self.mechanisms(wildcards) if callable(self.mechanisms) else self.mechanisms)

    def params_for(self, wildcards: Wildcards) -> dict[str, Any]:
        return dict(self.params(wildcards) if callable(self.params) else self.params)

    @property
    def wildcards(self) -> list[str]:
        first = next(iter(self.output.values()))
        return wildcards_of(first if isinstance(first, str) else first[0])

    def log_path(self, exp: str, kind: str = "logs", ext: str = "log") -> str:
        """results/<kind>/<exp>/<step>[/<wildcard>...].<ext>: one file per job."""
        parts = [f"{{{w}}}" for w in self.wildcards]
        return "/".join([f"results/{kind}/{exp}/{self.name}", *parts]) + f".{ext}"


@dataclass(frozen=True)
class Context:
    """The running config, as one experiment's steps see it."""

    config: dict
    id: str

    @property
    def cfg(self) -> dict:
        return self.config["experiments"][self.id]

    @property
    def base_seed(self) -> int:
        return self.config["base_seed"]

    @property
    def vision(self) -> dict:
        return self.config["vision"]

    @property
    def seeds(self) -> list[int]:
        return list(range(self.cfg["seeds"]))

    @property
    def train_seeds(self) -> list[int] | None:
        """The seeds a training step stacks into one job, or None for one job per seed (config
        `stack_seeds`: stacking saves a process start per seed; separate jobs pack better on few cores)."""
        return self.seeds if self.config.get("stack_seeds", True) else None

    def stacked(self, wildcard: str, values) -> dict[str, list[str]] | None:
        """`{wildcard: values}` for a training step that also stacks every value of one wildcard
        (an experiment's variants) into its job, or None (config `stack_variants`, which needs
        `stack_seeds`: at smoke scale a job is mostly its ~10 s of imports; at mini, longer jobs
        pack better on few cores as separate jobs)."""
        return {wildcard: [str(v) for v in values]} if self.stacks_variants else None

    @property
    def stacks_variants(self) -> bool:
        """Config `stack_variants` (with `stack_seeds`): an experiment's training configurations share one job."""
        return self.train_seeds is not None and bool(self.config.get("stack_variants", False))


@dataclass(frozen=True)
class Experiment:
    """One paper's experiment (or a clearly labelled substitute for it)."""

    id: str
    paper: str
    steps: Callable[[Context], list[Step]]
    spec: str = ""  # shared/papers/<spec>; defaults to <id>.md
    figures: tuple[str, ...] = ()  # results/figures/<id>_<figure>.png, written by the table step
    check: Callable[[Context], None] | None = None  # cross-key constraints; raise ConfigError
    shared_blocks: tuple[str, ...] = ()  # other top-level config blocks its outputs depend on
    # the spec's settings per scale ({"mini": {...}, "full": {...}}): dotted keys of the config block
    # (see `lookup`), values plain or Within/Span/Contains; only what the spec states
    reference: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self):
        unknown = set(self.reference) - set(REFERENCE_SCALES)
        if unknown:
            raise ValueError(f"{self.id}: reference scales {sorted(unknown)} (known: {REFERENCE_SCALES}; "
                             "smoke is a plumbing run and has none)")

    def context(self, config: dict) -> Context:
        return Context(config, self.id)

    def config_hash(self, config: dict) -> str:
        """Provenance hash of every config block the outputs depend on."""
        blocks = {"base_seed": config["base_seed"], self.id: config["experiments"][self.id]}
        blocks.update({b: config[b] for b in self.shared_blocks})
        return config_hash(blocks)

    def set_after_results(self, config: dict) -> dict[str, tuple[Any, str]]:
        """The block's `set_after_results` entries that apply to this run, {key: (value, reason)}:
        those whose recorded value is the running value (a value recorded at mini and changed by a
        later config layer, e.g. full.yaml, was not chosen after seeing this run's results). A listed
        key the config lacks is a ConfigError naming both keys."""
        entries = config["experiments"][self.id].get("set_after_results") or {}
        out = {}
        for key, entry in entries.items():
            value = lookup(config, self.id, key)
            if value is _NO_VALUE:
                raise ConfigError(f"experiments.{self.id}.set_after_results names {full_key(self.id, key)}, "
                                  "which is not in the config")
            if _same(value, entry["value"]):
                out[key] = (value, entry["reason"])
        return out

    def deviations(self, config: dict) -> list[str]:
        """Every reference setting of the running scale that the running config does not meet,
        "model.n_embd = 32 (spec mini: 64)", then every setting chosen after seeing results,
        "train.lr = 0.01; set after seeing results: <reason>" (one line for a key that is both;
        keys recorded with the same reason share one line, at the first one's place, the reason
        written once). A scale the spec states no settings for gives one line that says so. A
        reference key the config lacks is a ConfigError naming it."""
        scale = config["scale"]
        chosen = self.set_after_results(config)
        lines = []
        if scale not in self.reference:
            lines.append(f"not compared at scale {scale}: the spec states no settings for it"
                         + (" (a plumbing run)" if scale == "smoke" else ""))
        items = []  # (setting as shown, reason it was set after results or None), in order
        for key, spec in self.reference.get(scale, {}).items():
            value = lookup(config, self.id, key)
            if value is _NO_VALUE:
                raise ConfigError(f"{full_key(self.id, key)}: in the {scale} reference of {self.id} "
                                  "but not in the config")
            if not matches(value, spec):
                shown = spec if isinstance(spec, REFERENCE_FORMS) else show(spec)
                reason = chosen.pop(key)[1] if key in chosen else None
                items.append((f"{key.lstrip('/')} = {show(value)} (spec {scale}: {shown})", reason))
        items += [(f"{key.lstrip('/')} = {show(value)}", reason) for key, (value, reason) in chosen.items()]
        entries, by_reason = [], {}  # [settings, reason] in order; a reason's entry, to join it
        for setting, reason in items:
            if reason is not None and reason in by_reason:
                by_reason[reason][0].append(setting)
                continue
            entries.append([[setting], reason])
            if reason is not None:
                by_reason[reason] = entries[-1]
        return lines + [", ".join(settings) + (f"; set after seeing results: {reason}" if reason is not None else "")
                        for settings, reason in entries]

    def check_deviations(self, config: dict) -> None:
        """Parse-time check: every reference key and every set_after_results key is in the config."""
        self.deviations(config)

    def common_params(self, config: dict) -> dict:
        """Params every evaluate/table step gets: scale, seeds, config hash, threads, and the
        deviations of the running config from the spec (`deviations`, rendered in the table notes)."""
        return {
            "scale": config["scale"],
            "base_seed": config["base_seed"],
            "seeds": list(range(config["experiments"][self.id]["seeds"])),
            "config_hash": self.config_hash(config),
            "threads": config["threads"],
            "deviations": self.deviations(config),
        }

    def final_outputs(self) -> list[str]:
        return [*table_outputs(self.id), *(f"results/figures/{self.id}_{f}.png" for f in self.figures)]


# --- helpers the plans share -------------------------------------------------------------------


def table_outputs(exp: str) -> list[str]:
    return [f"results/tables/{exp}.{ext}" for ext in TABLE_FORMATS]


LAUNCHERS = ("local", "slurm")
RDZV_PORT = 29500


def launch_prefix(tasks: int, nodes: int = 1, launcher: str = "local") -> str:
    """The command that starts a step's module: `python -m` for one process; for a multi-process
    job (tasks > 1, torch.distributed with its rank and world size from the environment) torchrun
    with tasks/nodes processes per node, on this machine (`local`) or, under the SLURM profile
    (config `launcher: slurm`), one torchrun per node of the job's allocation through srun, which
    meet at the first node. A -m module follows either."""
    if tasks <= 1:
        return "python -m"
    if tasks % nodes:
        raise ValueError(f"{tasks} tasks do not split evenly over {nodes} nodes")
    per_node = tasks // nodes
    if launcher == "local":
        if nodes != 1:
            raise ValueError("the local launcher runs on one node; a multi-node step needs `launcher: slurm`")
        return f"python -m torch.distributed.run --standalone --nnodes=1 --nproc_per_node={per_node} -m"
    if launcher == "slurm":
        return (f"srun --ntasks-per-node=1 --nodes={nodes} python -m torch.distributed.run --nnodes={nodes}"
                f" --nproc_per_node={per_node}"
                f" --rdzv_backend=c10d --rdzv_endpoint=$(hostname):{RDZV_PORT} -m")
    raise ValueError(f"launcher {launcher!r} is not one of {LAUNCHERS}")


def claims_path(exp: str) -> str:
    return f"results/claims/{exp}.json"


def table_step(exp: Experiment, ctx: Context, input: Mapping[str, Any], params: Mapping[str, Any],
               figures: Mapping[str, str] | None = None, module: str | None = None) -> Step:
    """The paper-table step: md/csv/tex/html + the experiment's figures (`<name>_fig` outputs),
    all in the report. `figures` maps a figure name to its report label."""
    figures = dict(figures or {})
    if set(figures) != set(exp.figures):
        raise ValueError(f"{exp.id}: table step figures {sorted(figures)} != record {sorted(exp.figures)}")
    out: dict[str, str] = {ext: f"results/tables/{exp.id}.{ext}" for ext in TABLE_FORMATS}
    report = {"html": (f"report/{exp.id}_table.rst", "paper table")}
    for fig, label in figures.items():
        out[f"{fig}_fig"] = f"results/figures/{exp.id}_{fig}.png"
        report[f"{fig}_fig"] = (f"report/{exp.id}_{fig}.rst", label)
    return Step("table", module or f"attnlab.{exp.id}.table", "report", output=out, input=input,
                params={**params, **exp.common_params(ctx.config)}, report=report)


def evaluate_step(exp: Experiment, ctx: Context, input: Mapping[str, Any], output: Mapping[str, str],
                  params: Mapping[str, Any], module: str | None = None, **kw) -> Step:
    """The metrics-and-claims step: writes `output` and results/claims/<id>.json."""
    return Step("evaluate", module or f"attnlab.{exp.id}.evaluate", "analysis", input=input,
                output={**output, "claims": claims_path(exp.id)},
                params={**params, **exp.common_params(ctx.config)}, **{"mem_mb": 2000, "runtime": 15, **kw})


def run_files(run_dir: str) -> list[str]:
    """What a step reads from a trained run directory."""
    return [f"{run_dir}/config.json", f"{run_dir}/train_log.jsonl", f"{run_dir}/model.safetensors"]


def manifest_inputs(manifest: list[dict], model_key: str = "model_dir", data_key: str | None = "data") -> dict:
    """Declared inputs for a step that reads every run (and data file) of a manifest."""
    models = [f for m in manifest for f in run_files(m[model_key])]
    out = {"models": models}
    if data_key:
        out["data"] = sorted({m[data_key] for m in manifest})
    return out


def require(condition: bool, message: str) -> None:
    """A cross-key check: `message` names the keys involved."""
    if not condition:
        raise ConfigError(message)


def keyname(exp: str, *path: str) -> str:
    return ".".join(["experiments", exp, *path])


def check_heads_divide_width(exp: str, model: dict, *path: str) -> None:
    """A transformer block's width must split evenly into its heads."""
    path = path or ("model",)
    require(model["n_embd"] % model["n_head"] == 0,
            f"{keyname(exp, *path, 'n_embd')} = {model['n_embd']} is not divisible by "
            f"{keyname(exp, *path, 'n_head')} = {model['n_head']}")


RUN_FILES = ("config", "train_log", "model")


def run_outputs(run: str) -> dict[str, str]:
    """The files of a run directory template, as named outputs of the step that trains it."""
    return dict(zip(RUN_FILES, run_files(run)))


def stack_runs(run: str, seeds) -> list[str]:
    """The run directories of every seed of a run template (`{seed}` filled, other wildcards kept)."""
    return [run.replace("{seed}", str(s)) for s in seeds]


def stack_outputs(run: str, seeds) -> dict[str, list[str]]:
    """The files of every seed's run directory, for a step that trains all seeds as one stack."""
    files = [run_files(r) for r in stack_runs(run, seeds)]
    return {name: [f[i] for f in files] for i, name in enumerate(RUN_FILES)}


def stack_train_step(module: str, run: str, seeds: list[int] | None, data: Callable[[Wildcards], str],
                     params: Callable[[Wildcards], dict], constraints: Mapping[str, str] | None = None,
                     stack_over: Mapping[str, list[str]] | None = None, **step) -> Step:
    """Train every seed of one configuration as one stack in one job: `run` is the run-directory
    template with a `{seed}` wildcard; `data(w)` and `params(w)` give one seed's training file and
    params (with its "seed"). The step gets every seed's data and run directory, and the params
    with "members": [{"seed": ...}, ...] in place of "seed". `seeds=None` (`Context.train_seeds`
    when `stack_seeds` is off): a stack of one per job, `{seed}` a wildcard of the step.

    `stack_over={"variant": [...]}` (`Context.stacked`) puts the stacks of every value of that
    wildcard in the same job too (`stacked_step`: one after another in one process, each exactly
    its own job's stack)."""
    if seeds is None:
        def one_params(w: Wildcards) -> dict:
            p = params(w)
            return {**{k: v for k, v in p.items() if k != "seed"}, "members": [{"seed": p["seed"]}]}

        return Step("train", module, "train", threads=None, input=lambda w: {"data": [data(w)]},
                    output={name: [f] for name, f in zip(RUN_FILES, run_files(run))}, params=one_params,
                    constraints=dict(constraints or {}), cli_outputs=lambda w: {"run_dir": [run.format(**w)]},
                    **step)

    runs = stack_runs(run, seeds)
    member_w = lambda w: [{**w, "seed": str(s)} for s in seeds]  # noqa: E731

    def stack_params(w: Wildcards) -> dict:
        each = [params(m) for m in member_w(w)]
        own = _own_keys(each, skip=("seed",))
        if own:
            raise ValueError(f"{run}: seeds of one stack must share every setting but the seed; {own} differ")
        return {**{k: v for k, v in each[0].items() if k != "seed"}, "members": [{"seed": p["seed"]} for p in each]}

    files = [run_files(r) for r in runs]
    one = Step("train", module, "train", threads=None,
               input=lambda w: {"data": [data(m) for m in member_w(w)]},
               output={name: [f[i] for f in files] for i, name in enumerate(RUN_FILES)}, params=stack_params,
               constraints=dict(constraints or {}), cli_outputs=lambda w: {"run_dir": [r.format(**w) for r in runs]},
               **step)
    return stacked_step(one, stack_over) if stack_over else one


def _combos(over: Mapping[str, list[str]]) -> list[dict[str, str]]:
    """Every combination of the wildcard values in `over`, the last wildcard varying fastest."""
    return [dict(zip(over, values)) for values in itertools.product(*over.values())] if over else [{}]


def stacked_step(step: Step, over: Mapping[str, list] | list[Mapping[str, Any]]) -> Step:
    """`step` (one job per member: its wildcards include those of `over`) as one job for every
    combination of `over`'s values (e.g. every seed of a per-seed analysis, or every configuration
    of an experiment's stacked training; `over` maps wildcards to values, every combination a
    member, or lists the members' values): each named input and output becomes the list of the
    members' paths (each member's the same number), in `_combos` order; params are the shared ones
    plus "stacked": each member's own (those that differ), and `attnlab.cli.run_step` runs the
    module once per member, in one process. Saves a process start (~10 s of imports) per member."""
    if isinstance(over, Mapping):
        combos = _combos({k: [str(v) for v in vs] for k, vs in over.items()})
    else:  # the members' wildcard values, listed
        combos = [{k: str(v) for k, v in c.items()} for c in over]
    over = {k for c in combos for k in c}
    member_w = lambda w: [{**w, **c} for c in combos]  # noqa: E731

    def params(w: Wildcards) -> dict:
        each = [step.params_for(m) for m in member_w(w)]
        own = _own_keys(each)
        return {**{k: v for k, v in each[0].items() if k not in own},
                STACKED: [{k: p[k] for k in own if k in p} for p in each]}

    def mechanisms(w: Wildcards) -> tuple[str, ...]:
        return tuple(sorted({x for m in member_w(w) for x in step.mechanisms_for(m)}))

    inputs = lambda w: _concat(step.inputs_for(m) for m in member_w(w))  # noqa: E731
    cli_outputs = lambda w: _concat(step.cli_outputs_for(m) for m in member_w(w))  # noqa: E731
    output = {name: [_fill(x, c) for c in combos for x in ([t] if isinstance(t, str) else t)]
              for name, t in step.output.items()}
    return replace(step, input=inputs, output=output, params=params, mechanisms=mechanisms,
                   cli_outputs=cli_outputs if step.cli_outputs else None,
                   constraints={k: v for k, v in step.constraints.items() if k not in over},
                   runtime=step.runtime * len(combos))


def _own_keys(each: list[dict], skip: tuple[str, ...] = ()) -> list[str]:
    """The keys whose values differ between the dicts `each` (or that some lack), `skip` aside."""
    keys = {k for p in each for k in p} - set(skip)
    return sorted(k for k in keys if any(k not in p or p[k] != each[0].get(k) for p in each))


def _concat(tables) -> dict[str, list]:
    """Named path lists (or single paths), concatenated name by name in order."""
    out: dict[str, list] = {}
    for table in tables:
        for name, paths in table.items():
            out.setdefault(name, []).extend([paths] if isinstance(paths, str) else list(paths))
    return out


def _fill(template: str, values: Mapping[str, str]) -> str:
    """`template` with the wildcards named in `values` filled, the others kept."""
    for k, v in values.items():
        template = template.replace("{" + k + "}", v)
    return template


def lm_train_step(run: str, seeds: list[int] | None, data: Callable[[Wildcards], str],
                  params: Callable[[Wildcards], dict], constraints: Mapping[str, str] | None = None,
                  stack_over: Mapping[str, list[str]] | None = None) -> Step:
    """Every seed of one attnlab causal-LM configuration as one stack (`attnlab.train.lm_stack`);
    `params(w)` gives one seed's `attnlab.train.lm` params. `seeds=None`: one job per seed.
    `stack_over` (`Context.stacked`): the stacks of every value of that wildcard in one job."""
    def mechanisms(w: Wildcards) -> tuple[str, ...]:
        return (params({**w, "seed": str(seeds[0])} if seeds else w)["model"]["attention"],)

    return stack_train_step("attnlab.train.lm_stack", run, seeds, data, params, constraints,
                            stack_over=stack_over if seeds else None, gpu=True, mem_mb=2000, runtime=60,
                            mechanisms=mechanisms)

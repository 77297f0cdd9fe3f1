"""Which cab jobs a config asks for, and the params each gets. Read by the Snakefile at parse time
(no torch import).

One synth job writes every seed's train and test files of the four patterns; one training job per
pattern trains that pattern's every (mechanism, seed) as one stack (the ~8 CPU-s start-up of a job
is paid four times, not once per cell); the evaluate job scores every model on its test set, runs
CAB's leakage test on every causal model, and times one attention layer of each mechanism over
lengths (the efficiency length); the table job writes the CAB-style table and figures.
"""

from __future__ import annotations

from attnlab.cab import CAUSAL, PAPER, PATTERNS, SUPPORT, attention_spec
from attnlab.experiment import (
    Contains,
    Context,
    Experiment,
    Step,
    check_heads_divide_width,
    claims_path,
    evaluate_step,
    keyname,
    require,
    run_files,
    table_step,
)
from attnlab.seeds import derive_seed
from attnlab.tasks.cab import VOCAB_SIZE

EXP = "cab"
RESULTS = f"results/{EXP}"
DATA = RESULTS + "/data/{pattern}/{split}/seed{seed}.parquet"
RUN = RESULTS + "/runs/{pattern}/{mechanism}/seed{seed}"
METRICS = {n: f"{RESULTS}/metrics/{n}.parquet" for n in ("cells", "timing", "efficiency")}
SPLITS = ("train", "test")


def data_path(pattern: str, split: str, seed: int) -> str:
    return DATA.format(pattern=pattern, split=split, seed=seed)


def run_dir(pattern: str, mechanism: str, seed: int) -> str:
    return RUN.format(pattern=pattern, mechanism=mechanism, seed=seed)


def data_paths(seeds) -> list[str]:
    """Every data file, in the order attnlab.cab.synth writes them (pattern × split × seed)."""
    return [data_path(p, s, i) for p in PATTERNS for s in SPLITS for i in seeds]


def synth_params(cfg: dict, base_seed: int, seeds) -> dict:
    return {"seeds": {str(i): {"data": derive_seed(base_seed, EXP, "data", i),
                               "chain": derive_seed(base_seed, EXP, "chain", i)} for i in seeds},
            "n_train": cfg["n_train"], "n_test": cfg["n_test"], "markov": cfg["markov"],
            "lengths": cfg["lengths"], "n_masked": cfg["n_masked"]}


def n_positions(cfg: dict, pattern: str) -> int:
    L = cfg["lengths"]
    return {"ns": L["ns"], "cs": L["cs"], "nc": L["nc_source"] + 1, "cc": L["cc"] + 1}[pattern]


def model_params(cfg: dict, pattern: str, mechanism: str, feature_seed: int) -> dict:
    """Config kwargs of a (pattern, mechanism) model: the mechanism in the pattern under test,
    vanilla softmax everywhere else."""
    attention, options = attention_spec(mechanism, pattern, cfg, feature_seed)
    m, depth = cfg["model"], cfg["layers"][pattern]
    common = {"vocab_size": VOCAB_SIZE, "n_positions": n_positions(cfg, pattern), "n_embd": m["n_embd"],
              "n_head": m["n_head"], "mlp_ratio": m["mlp_ratio"],
              "position_encoding": cfg["position_encoding"][pattern]}
    if pattern == "cs":
        return {**common, "n_layer": depth, "attention": attention, "attention_options": options}
    if pattern == "ns":
        return {**common, "n_encoder_layer": depth, "n_decoder_layer": 0, "encoder_attention": attention,
                "encoder_attention_options": options}
    return {**common, "n_encoder_layer": depth, "n_decoder_layer": depth, "cross_attention": attention,
            "cross_attention_options": options, "decoder_causal": CAUSAL[pattern]}


def members(cfg: dict, base_seed: int, pattern: str, seeds) -> list[dict]:
    out = []
    for i in seeds:
        seed = derive_seed(base_seed, EXP, pattern, i)  # shared by the seed's mechanisms: same batches
        for mech in cfg["mechanisms"][pattern]:
            out.append({"mechanism": mech, "seed_index": i, "seed": seed,
                        "model": model_params(cfg, pattern, mech, derive_seed(base_seed, EXP, "features", i)),
                        "data": data_path(pattern, "train", i), "run_dir": run_dir(pattern, mech, i)})
    return out


def train_params(cfg: dict, base_seed: int, pattern: str, seeds) -> dict:
    return {"pattern": pattern, "train": cfg["train"], "members": members(cfg, base_seed, pattern, seeds)}


def manifest(cfg: dict, base_seed: int, seeds) -> list[dict]:
    return [{"pattern": p, "mechanism": m["mechanism"], "seed_index": m["seed_index"], "model_dir": m["run_dir"],
             "test": data_path(p, "test", m["seed_index"])}
            for p in PATTERNS for m in members(cfg, base_seed, p, seeds)]


def evaluate_params(cfg: dict, base_seed: int, seeds) -> dict:
    return {"manifest": manifest(cfg, base_seed, seeds), "claim_margin": cfg["claim_margin"],
            "competence": cfg["competence"], "leakage_tolerance": cfg["leakage_tolerance"],
            "leakage_examples": cfg["leakage_examples"], "eval_batch_size": cfg["eval_batch_size"],
            "timing": cfg["timing"], "timing_mechanisms": {
                m: dict(zip(("attention", "options"), attention_spec(m, "ns", cfg, 0)))
                for m in ("vanilla", *sorted({x for p in PATTERNS for x in cfg["mechanisms"][p]} - {"vanilla"}))}}


def table_params(cfg: dict) -> dict:
    m, t, L = cfg["model"], cfg["train"], cfg["lengths"]
    return {"mechanisms": cfg["mechanisms"], "claim_margin": cfg["claim_margin"],
            "model_note": (f"d={m['n_embd']}, {m['n_head']} heads, MLP ×{m['mlp_ratio']}; layers NS {cfg['layers']['ns']} "
                           f"encoder, CS {cfg['layers']['cs']} decoder, NC/CC {cfg['layers']['nc']}+"
                           f"{cfg['layers']['cc']} encoder+decoder; {t['steps']} steps × batch {t['batch_size']}, "
                           f"AdamW {t['lr']:g}, warm-up {t.get('warmup_steps', 0)}, cosine"),
            "task_note": (f"synthetic stand-ins for CAB's tasks, {cfg['n_train']} train / {cfg['n_test']} test "
                          f"sequences per seed: NS masked-token recovery (length {L['ns']}, {cfg['n_masked']} masked), "
                          f"CS next-token LM (length {L['cs']}), Markov mixture {cfg['markov']}; NC lookup of "
                          f"{L['nc_queries']} positions in {L['nc_source']} symbols; CC reversal of {L['cc']} symbols"),
            "timing": cfg["timing"]}


# --- the experiment record ---------------------------------------------------------------------


def check(ctx: Context) -> None:
    cfg = ctx.cfg
    check_heads_divide_width(EXP, cfg["model"])
    for p in PATTERNS:
        mechs = cfg["mechanisms"][p]
        require("vanilla" in mechs, f"{keyname(EXP, 'mechanisms', p)} = {mechs} lacks 'vanilla', the attention every "
                "Δ is measured against")
        bad = sorted(set(mechs) - set(SUPPORT[p]))
        require(not bad, f"{keyname(EXP, 'mechanisms', p)} names {bad}, which CAB's support table does not run in "
                f"{p.upper()} (supported: {list(SUPPORT[p])})")
        require(len(set(mechs)) == len(mechs), f"{keyname(EXP, 'mechanisms', p)} = {mechs} repeats a mechanism")
    L = cfg["lengths"]
    require(L["nc_queries"] <= L["nc_source"] <= 32, f"{keyname(EXP, 'lengths')}: need nc_queries <= nc_source <= 32 "
            f"(32 position tokens), got {L}")
    require(cfg["n_masked"] < L["ns"], f"{keyname(EXP, 'n_masked')} = {cfg['n_masked']} must be below "
            f"{keyname(EXP, 'lengths', 'ns')} = {L['ns']}")
    require(cfg["n_test"] >= cfg["leakage_examples"], f"{keyname(EXP, 'leakage_examples')} = {cfg['leakage_examples']} "
            f"exceeds {keyname(EXP, 'n_test')} = {cfg['n_test']}")
    require(len(cfg["timing"]["lengths"]) >= 3, f"{keyname(EXP, 'timing', 'lengths')} needs >= 3 lengths for the "
            "quadratic fit of vanilla")


def train_step(cfg: dict, seed0: int, p: str, seeds: list[int] | None) -> Step:
    """Every (mechanism, seed) model of one pattern as one stack, or (seeds None: config `stack_seeds`
    off) one job per seed, `{seed}` a wildcard, its mechanisms stacked."""
    ms = members(cfg, seed0, p, seeds or [0])
    mechs = cfg["mechanisms"][p]
    if seeds is None:
        files = [run_files(run_dir(p, m, "{seed}")) for m in mechs]
        data = lambda w: {"data": [data_path(p, "train", int(w["seed"]))]}  # noqa: E731
        params = lambda w: train_params(cfg, seed0, p, [int(w["seed"])])  # noqa: E731
        dirs = lambda w: {"run_dir": [run_dir(p, m, int(w["seed"])) for m in mechs]}  # noqa: E731
    else:
        files = [run_files(m["run_dir"]) for m in ms]
        data, params = {"data": sorted({m["data"] for m in ms})}, train_params(cfg, seed0, p, seeds)
        dirs = lambda w: {"run_dir": [m["run_dir"] for m in ms]}  # noqa: E731
    return Step(
        f"train_{p}", "attnlab.cab.train", "train", threads=None, gpu=True, mem_mb=3000, runtime=60, input=data,
        output={name: [f[i] for f in files] for i, name in enumerate(("config", "train_log", "model"))},
        params=params, cli_outputs=dirs,
        mechanisms=tuple(sorted({m["model"].get("attention") or m["model"].get("encoder_attention")
                                 or m["model"]["cross_attention"] for m in ms} | {"softmax"})),
        code=("attnlab.seq2seq.modeling", "attnlab.lm.modeling", "attnlab.train.stack"))


def steps(ctx: Context) -> list[Step]:
    cfg, seed0, seeds = ctx.cfg, ctx.base_seed, ctx.seeds
    man = manifest(cfg, seed0, seeds)
    out = [Step("synth", "attnlab.cab.synth", "synth", output={"data": data_paths(seeds)},
                params=synth_params(cfg, seed0, seeds), code=("attnlab.tasks.cab",))]
    for p in PATTERNS:
        out.append(train_step(cfg, seed0, p, ctx.train_seeds))
    mechs = tuple(sorted({"softmax", "sliding_window", "performer", "abc"}))
    out += [
        evaluate_step(EXPERIMENT, ctx, output=METRICS, params=evaluate_params(cfg, seed0, seeds), mechanisms=mechs,
                      input={"models": [f for m in man for f in run_files(m["model_dir"])],
                             "data": sorted({m["test"] for m in man})},
                      code=("attnlab.cab.score", "attnlab.seq2seq.modeling", "attnlab.lm.modeling")),
        table_step(EXPERIMENT, ctx, input={**METRICS, "claims": claims_path(EXP)}, params=table_params(cfg),
                   figures={"deltas": "accuracy change against vanilla per pattern",
                            "efficiency": "forward time of one attention layer against length"}),
    ]
    return out


# The spec's settings (shared/papers/cab.md), the same at mini and full unless noted: 32 states,
# 4 chains, concentration 0.2; 4,000 / 500 sequences per seed; d=64, 4 heads, MLP ×4; depths 2 / 2 /
# 1+1 / 1+1; AdamW 3e-3, warm-up 25, batch 32, 250 steps; window 8 at length 33, 16 random features,
# 16 ABC slots; C1 margin 10 points; vanilla >= 90% on NC and CC; 3 seeds; the mini grid.
_SPEC = {"markov.n_states": 32, "markov.n_chains": 4, "markov.concentration": 0.2, "n_train": 4000, "n_test": 500,
         "lengths.ns": 33, "lengths.cs": 33, "lengths.nc_source": 32, "lengths.nc_queries": 16, "lengths.cc": 16,
         "model.n_embd": 64, "model.n_head": 4, "model.mlp_ratio": 4,
         "layers.ns": 2, "layers.cs": 2, "layers.nc": 1, "layers.cc": 1,
         "train.lr": 0.003, "train.warmup_steps": 25, "train.batch_size": 32, "train.steps": 250,
         "local_window": 8, "performer_features": 16, "abc_slots": 16, "claim_margin": 10,
         "competence.vanilla_cross_accuracy": 0.9, "seeds": 3,
         "mechanisms.ns": Contains("vanilla", "local", "performer", "abc"),
         "mechanisms.cs": Contains("vanilla", "local", "abc"),
         "mechanisms.nc": Contains("vanilla", "performer", "abc"),
         "mechanisms.cc": Contains("vanilla", "performer", "abc"),
         "timing.lengths": [256, 512, 1024, 2048, 4096], "timing.repeats": 5, "timing.n_head": 4, "timing.d_head": 16}
# full scale: lengths 1k-8k, d=256-512, 6+6 layers, 5 seeds, more mechanisms (spec "Full scale")
REFERENCE = {"mini": _SPEC, "full": {**{k: v for k, v in _SPEC.items() if not k.startswith(("lengths.", "model.n_embd",
                                                                                            "layers.", "seeds"))},
                                     "seeds": 5}}

EXPERIMENT = Experiment(id=EXP, paper=PAPER, steps=steps, figures=("deltas", "efficiency"), check=check,
                        reference=REFERENCE)

# Data synthesis: every experiment's generated data sets, written as Parquet.


rule ocr_synth:
    output:
        data="results/ocr/data/{task}/seed{seed}.parquet",
    log:
        "results/logs/ocr/synth/{task}/seed{seed}.log",
    benchmark:
        "results/benchmarks/ocr/synth/{task}/seed{seed}.tsv"
    conda:
        "../envs/synth.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        json=lambda w: as_json(
            ocr_plan.synth_params(exp_config("ocr"), BASE_SEED, w.task, int(w.seed))
        ),
        code=code_version("attnlab.ocr.synth"),
    shell:
        "python -m attnlab.ocr.synth --output data {output.data:q}"
        " --params {params.json:q} > {log:q} 2>&1"


# --- icl_regression: fixed test prompts of in-context linear regression ----------------------------


rule icl_regression_synth:
    output:
        data="results/icl_regression/data/d{dim}/seed{seed}.parquet",
    log:
        "results/logs/icl_regression/synth/d{dim}/seed{seed}.log",
    benchmark:
        "results/benchmarks/icl_regression/synth/d{dim}/seed{seed}.tsv"
    wildcard_constraints:
        dim=r"\d+",
    conda:
        "../envs/synth.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        json=lambda w: as_json(
            icl_regression_plan.synth_params(
                exp_config("icl_regression"), BASE_SEED, int(w.dim), int(w.seed)
            )
        ),
        code=code_version("attnlab.icl_regression.synth"),
    shell:
        "python -m attnlab.icl_regression.synth --output data {output.data:q}"
        " --params {params.json:q} > {log:q} 2>&1"


# --- vision track: world renders, IR cases, MuCR pairs, Envision prompts ---------------------------


rule vision_train_data:
    output:
        data=vision_plan.TRAIN_DATA,
    log:
        "results/logs/vision/train_data.log",
    benchmark:
        "results/benchmarks/vision/train_data.tsv"
    conda:
        "../envs/synth.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        json=as_json(vision_plan.data_params(VISION, BASE_SEED)),
        code=code_version("attnlab.vision.synth"),
    shell:
        "python -m attnlab.vision.synth --output data {output.data:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule ir_diffusion_cases:
    output:
        cases=ir_diffusion_plan.CASES,
    log:
        "results/logs/ir_diffusion/cases.log",
    benchmark:
        "results/benchmarks/ir_diffusion/cases.tsv"
    conda:
        "../envs/synth.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        json=lambda w: as_json(
            ir_diffusion_plan.synth_params(
                exp_config("ir_diffusion"), VISION, BASE_SEED
            )
        ),
        code=code_version("attnlab.ir_diffusion.synth"),
    shell:
        "python -m attnlab.ir_diffusion.synth --output cases {output.cases:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule mucr_pairs:
    output:
        pairs=mucr_plan.PAIRS,
    log:
        "results/logs/mucr/pairs.log",
    benchmark:
        "results/benchmarks/mucr/pairs.tsv"
    conda:
        "../envs/synth.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        json=lambda w: as_json(
            mucr_plan.synth_params(exp_config("mucr"), VISION, BASE_SEED)
        ),
        code=code_version("attnlab.mucr.synth"),
    shell:
        "python -m attnlab.mucr.synth --output pairs {output.pairs:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule envision_prompts:
    output:
        prompts=envision_plan.PROMPTS,
        truth=envision_plan.TRUTH,
    log:
        "results/logs/envision/prompts.log",
    benchmark:
        "results/benchmarks/envision/prompts.tsv"
    conda:
        "../envs/synth.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        json=lambda w: as_json(
            envision_plan.synth_params(exp_config("envision"), VISION, BASE_SEED)
        ),
        code=code_version("attnlab.envision.synth"),
    shell:
        "python -m attnlab.envision.synth --output prompts {output.prompts:q}"
        " --output truth {output.truth:q} --params {params.json:q} > {log:q} 2>&1"

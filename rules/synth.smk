# Data synthesis: every experiment's generated data sets, written as Parquet.


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

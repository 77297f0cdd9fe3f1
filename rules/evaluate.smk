# Metrics and claim checks: results/<exp>/metrics/ and results/claims/<exp>.json.


# --- vision track ------------------------------------------------------------------------------------


rule image_world_validate:
    output:
        parser="results/image_world/metrics/parser.json",
    log:
        "results/logs/image_world/validate.log",
    benchmark:
        "results/benchmarks/image_world/validate.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        json=as_json(
            image_world_plan.validate_params(
                exp_config("image_world"), VISION, BASE_SEED
            )
        ),
        code=code_version("attnlab.image_world.validate"),
    shell:
        "python -m attnlab.image_world.validate --output parser {output.parser:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule image_world_evaluate:
    input:
        parser="results/image_world/metrics/parser.json",
        images=vision_plan.sample_dirs("image_world", exp_config("image_world")),
    output:
        samples="results/image_world/metrics/samples.parquet",
        claims="results/claims/image_world.json",
    log:
        "results/logs/image_world/evaluate.log",
    benchmark:
        "results/benchmarks/image_world/evaluate.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        json=as_json(common_params("image_world")),
        code=code_version("attnlab.image_world.evaluate"),
    shell:
        "python -m attnlab.image_world.evaluate --input parser {input.parser:q}"
        " --input images {input.images:q} --output samples {output.samples:q}"
        " --output claims {output.claims:q} --params {params.json:q} > {log:q} 2>&1"


rule ir_diffusion_evaluate:
    input:
        cases=ir_diffusion_plan.CASES,
        images=vision_plan.sample_dirs("ir_diffusion", exp_config("ir_diffusion")),
    output:
        subjects="results/ir_diffusion/metrics/subjects.parquet",
        summary="results/ir_diffusion/metrics/summary.parquet",
        claims="results/claims/ir_diffusion.json",
    log:
        "results/logs/ir_diffusion/evaluate.log",
    benchmark:
        "results/benchmarks/ir_diffusion/evaluate.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        json=as_json(
            {
                **ir_diffusion_plan.evaluate_params(exp_config("ir_diffusion")),
                **common_params("ir_diffusion"),
            }
        ),
        code=code_version("attnlab.ir_diffusion.evaluate"),
    shell:
        "python -m attnlab.ir_diffusion.evaluate --input cases {input.cases:q}"
        " --input images {input.images:q} --output subjects {output.subjects:q}"
        " --output summary {output.summary:q} --output claims {output.claims:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule mucr_evaluate:
    input:
        pairs=mucr_plan.PAIRS,
        images=vision_plan.sample_dirs("mucr", exp_config("mucr")),
    output:
        pairs="results/mucr/metrics/pairs.parquet",
        levels="results/mucr/metrics/levels.parquet",
        claims="results/claims/mucr.json",
    log:
        "results/logs/mucr/evaluate.log",
    benchmark:
        "results/benchmarks/mucr/evaluate.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        json=as_json(
            {
                **mucr_plan.evaluate_params(exp_config("mucr"), BASE_SEED),
                **common_params("mucr"),
            }
        ),
        code=code_version("attnlab.mucr.evaluate"),
    shell:
        "python -m attnlab.mucr.evaluate --input pairs {input.pairs:q}"
        " --input images {input.images:q} --output pairs {output.pairs:q}"
        " --output levels {output.levels:q} --output claims {output.claims:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule envision_evaluate:
    input:
        prompts=envision_plan.PROMPTS,
        truth=envision_plan.TRUTH,
        images=vision_plan.sample_dirs("envision", exp_config("envision")),
    output:
        scores="results/envision/metrics/scores.parquet",
        claims="results/claims/envision.json",
    log:
        "results/logs/envision/evaluate.log",
    benchmark:
        "results/benchmarks/envision/evaluate.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        json=as_json(
            {
                **envision_plan.evaluate_params(exp_config("envision")),
                **common_params("envision"),
            }
        ),
        code=code_version("attnlab.envision.evaluate"),
    shell:
        "python -m attnlab.envision.evaluate --input prompts {input.prompts:q}"
        " --input truth {input.truth:q} --input images {input.images:q}"
        " --output scores {output.scores:q} --output claims {output.claims:q}"
        " --params {params.json:q} > {log:q} 2>&1"

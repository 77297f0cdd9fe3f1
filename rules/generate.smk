# Image generation with diffusers (envs/diffusion.yaml): every vision experiment samples from one
# pipeline directory (the tiny model trained in pretrain.smk, or vision.model.path).


rule image_world_generate:
    input:
        model=MODEL_DIR,
    output:
        images=directory("results/image_world/images/seed{seed}"),
    log:
        "results/logs/image_world/generate/seed{seed}.log",
    benchmark:
        "results/benchmarks/image_world/generate/seed{seed}.tsv"
    conda:
        "../envs/diffusion.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        json=lambda w: as_json(
            image_world_plan.generate_params(
                exp_config("image_world"), VISION, BASE_SEED, int(w.seed)
            )
        ),
        code=code_version("attnlab.image_world.generate"),
    shell:
        "python -m attnlab.image_world.generate --input model {input.model:q}"
        " --output images {output.images:q} --params {params.json:q} > {log:q} 2>&1"


rule ir_diffusion_generate:
    input:
        model=MODEL_DIR,
        cases=ir_diffusion_plan.CASES,
    output:
        images=directory("results/ir_diffusion/images/seed{seed}"),
    log:
        "results/logs/ir_diffusion/generate/seed{seed}.log",
    benchmark:
        "results/benchmarks/ir_diffusion/generate/seed{seed}.tsv"
    conda:
        "../envs/diffusion.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        json=lambda w: as_json(
            ir_diffusion_plan.generate_params(
                exp_config("ir_diffusion"), VISION, BASE_SEED, int(w.seed)
            )
        ),
        code=code_version("attnlab.ir_diffusion.generate"),
    shell:
        "python -m attnlab.ir_diffusion.generate --input model {input.model:q}"
        " --input cases {input.cases:q} --output images {output.images:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule mucr_generate:
    input:
        model=MODEL_DIR,
        pairs=mucr_plan.PAIRS,
    output:
        images=directory("results/mucr/images/seed{seed}"),
    log:
        "results/logs/mucr/generate/seed{seed}.log",
    benchmark:
        "results/benchmarks/mucr/generate/seed{seed}.tsv"
    conda:
        "../envs/diffusion.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        json=lambda w: as_json(
            mucr_plan.generate_params(
                exp_config("mucr"), VISION, BASE_SEED, int(w.seed)
            )
        ),
        code=code_version("attnlab.mucr.generate"),
    shell:
        "python -m attnlab.mucr.generate --input model {input.model:q}"
        " --input pairs {input.pairs:q} --output images {output.images:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule envision_generate:
    input:
        model=MODEL_DIR,
        prompts=envision_plan.PROMPTS,
        truth=envision_plan.TRUTH,
    output:
        images=directory("results/envision/images/seed{seed}"),
    log:
        "results/logs/envision/generate/seed{seed}.log",
    benchmark:
        "results/benchmarks/envision/generate/seed{seed}.tsv"
    conda:
        "../envs/diffusion.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        json=lambda w: as_json(
            envision_plan.generate_params(
                exp_config("envision"), VISION, BASE_SEED, int(w.seed)
            )
        ),
        code=code_version("attnlab.envision.generate"),
    shell:
        "python -m attnlab.envision.generate --input model {input.model:q}"
        " --input prompts {input.prompts:q} --input truth {input.truth:q}"
        " --output images {output.images:q}"
        " --params {params.json:q} > {log:q} 2>&1"

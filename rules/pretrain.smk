# Model training: one job per (experiment, task, variant, seed); run directories load with
# `from_pretrained` after `import attnlab.models`.


# --- vision track: the tiny text-to-image model (skipped when vision.model.path is set) ------------


rule vision_model:
    input:
        data=vision_plan.TRAIN_DATA,
    output:
        model=directory(vision_plan.TRAINED_MODEL),
    log:
        "results/logs/vision/model.log",
    benchmark:
        "results/benchmarks/vision/model.tsv"
    conda:
        "../envs/diffusion.yaml"
    threads: config["threads"]
    resources:
        mem_mb=3000,
        runtime=120,
        gpu=config.get("gpu", 0),
    params:
        json=as_json(vision_plan.train_params(VISION, BASE_SEED)),
        code=code_version("attnlab.diffusion.train"),
    shell:
        "python -m attnlab.gpuslots --gpus {resources.gpu} --"
        " python -m attnlab.diffusion.train --input data {input.data:q}"
        " --output model {output.model:q} --params {params.json:q} > {log:q} 2>&1"

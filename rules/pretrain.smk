# Model training: one job per (experiment, task, variant, seed); run directories load with
# `from_pretrained` after `import attnlab.models`.


rule ocr_train:
    input:
        data="results/ocr/data/{task}/seed{seed}.parquet",
    output:
        config="results/ocr/runs/{task}/{run}/seed{seed}/config.json",
        train_log="results/ocr/runs/{task}/{run}/seed{seed}/train_log.jsonl",
        model="results/ocr/runs/{task}/{run}/seed{seed}/model.safetensors",
    log:
        "results/logs/ocr/train/{task}/{run}/seed{seed}.log",
    benchmark:
        "results/benchmarks/ocr/train/{task}/{run}/seed{seed}.tsv"
    conda:
        "../envs/train.yaml"
    threads: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        json=lambda w: as_json(
            ocr_plan.train_params(
                exp_config("ocr"), BASE_SEED, w.task, w.run, int(w.seed)
            )
        ),
        run_dir=lambda w: ocr_plan.run_dir(w.task, w.run, int(w.seed)),
        code=code_version("attnlab.ocr.train"),
    shell:
        "python -m attnlab.ocr.train --input data {input.data:q}"
        " --output run_dir {params.run_dir:q} --params {params.json:q} > {log:q} 2>&1"


# --- icl_regression: one job per (d, mechanism) trains every seed as one stack; fresh prompts every step


rule icl_regression_train:
    output:
        config=expand(
            "results/icl_regression/runs/d{{dim}}/{{run}}/seed{seed}/config.json",
            seed=range(exp_config("icl_regression")["seeds"]),
        ),
        train_log=expand(
            "results/icl_regression/runs/d{{dim}}/{{run}}/seed{seed}/train_log.jsonl",
            seed=range(exp_config("icl_regression")["seeds"]),
        ),
        model=expand(
            "results/icl_regression/runs/d{{dim}}/{{run}}/seed{seed}/model.safetensors",
            seed=range(exp_config("icl_regression")["seeds"]),
        ),
    log:
        "results/logs/icl_regression/train/d{dim}/{run}.log",
    benchmark:
        "results/benchmarks/icl_regression/train/d{dim}/{run}.tsv"
    wildcard_constraints:
        dim=r"\d+",
    conda:
        "../envs/train.yaml"
    threads: config["threads"]
    resources:
        mem_mb=1000,
        runtime=icl_regression_plan.train_runtime_min(exp_config("icl_regression")),
    params:
        json=lambda w: as_json(
            icl_regression_plan.train_params(
                exp_config("icl_regression"), BASE_SEED, int(w.dim), w.run
            )
        ),
        run_dirs=lambda w: " ".join(
            shlex.quote(r)
            for r in icl_regression_plan.run_dirs(
                exp_config("icl_regression"), int(w.dim), w.run
            )
        ),
        code=code_version("attnlab.icl_regression.train"),
    shell:
        "python -m attnlab.icl_regression.train --output run_dir {params.run_dirs}"
        " --params {params.json:q} > {log:q} 2>&1"


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

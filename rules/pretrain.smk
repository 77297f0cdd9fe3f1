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

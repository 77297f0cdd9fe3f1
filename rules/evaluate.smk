# Metrics and claim checks: results/<exp>/metrics/ and results/claims/<exp>.json.


rule ocr_evaluate:
    input:
        models=[
            f"{m['model_dir']}/model.safetensors"
            for m in ocr_plan.manifest(exp_config("ocr"), BASE_SEED)
        ],
    output:
        metrics="results/ocr/metrics/metrics.parquet",
        spectra="results/ocr/metrics/spectra.parquet",
        claims="results/claims/ocr.json",
    log:
        "results/logs/ocr/evaluate.log",
    benchmark:
        "results/benchmarks/ocr/evaluate.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        json=as_json(
            {
                **ocr_plan.evaluate_params(exp_config("ocr"), BASE_SEED),
                **common_params("ocr"),
            }
        ),
        code=code_version("attnlab.ocr.evaluate"),
    shell:
        "python -m attnlab.ocr.evaluate --output metrics {output.metrics:q}"
        " --output spectra {output.spectra:q} --output claims {output.claims:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule moh_evaluate:
    input:
        models=[
            f"{m['model_dir']}/model.safetensors"
            for m in moh_plan.manifest(exp_config("moh"), BASE_SEED)
        ],
        data=sorted(
            {m["data"] for m in moh_plan.manifest(exp_config("moh"), BASE_SEED)}
        ),
    output:
        metrics="results/moh/metrics/metrics.parquet",
        load="results/moh/metrics/load.parquet",
        claims="results/claims/moh.json",
    log:
        "results/logs/moh/evaluate.log",
    benchmark:
        "results/benchmarks/moh/evaluate.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        json=as_json(
            {
                **moh_plan.evaluate_params(exp_config("moh"), BASE_SEED),
                **common_params("moh"),
            }
        ),
        code=code_version("attnlab.moh.evaluate"),
    shell:
        "python -m attnlab.moh.evaluate --output metrics {output.metrics:q}"
        " --output load {output.load:q} --output claims {output.claims:q}"
        " --params {params.json:q} > {log:q} 2>&1"


rule dynamic_mask_evaluate:
    input:
        models=[
            f"{m['model_dir']}/model.safetensors"
            for m in dynamic_mask_plan.manifest(exp_config("dynamic_mask"), BASE_SEED)
        ],
        data=sorted(
            {
                m["data"]
                for m in dynamic_mask_plan.manifest(
                    exp_config("dynamic_mask"), BASE_SEED
                )
            }
        ),
    output:
        metrics="results/dynamic_mask/metrics/metrics.parquet",
        claims="results/claims/dynamic_mask.json",
    log:
        "results/logs/dynamic_mask/evaluate.log",
    benchmark:
        "results/benchmarks/dynamic_mask/evaluate.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        json=as_json(
            {
                **dynamic_mask_plan.evaluate_params(
                    exp_config("dynamic_mask"), BASE_SEED
                ),
                **common_params("dynamic_mask"),
            }
        ),
        code=code_version("attnlab.dynamic_mask.evaluate"),
    shell:
        "python -m attnlab.dynamic_mask.evaluate --output metrics {output.metrics:q}"
        " --output claims {output.claims:q} --params {params.json:q} > {log:q} 2>&1"


rule meta_tokens_evaluate:
    input:
        models=[
            f"{m['model_dir']}/model.safetensors"
            for m in meta_tokens_plan.manifest(exp_config("meta_tokens"), BASE_SEED)
        ],
        data=sorted(
            {
                m["data"]
                for m in meta_tokens_plan.manifest(
                    exp_config("meta_tokens"), BASE_SEED
                )
            }
        ),
    output:
        metrics="results/meta_tokens/metrics/metrics.parquet",
        claims="results/claims/meta_tokens.json",
    log:
        "results/logs/meta_tokens/evaluate.log",
    benchmark:
        "results/benchmarks/meta_tokens/evaluate.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        json=as_json(
            {
                **meta_tokens_plan.evaluate_params(
                    exp_config("meta_tokens"), BASE_SEED
                ),
                **common_params("meta_tokens"),
            }
        ),
        code=code_version("attnlab.meta_tokens.evaluate"),
    shell:
        "python -m attnlab.meta_tokens.evaluate --output metrics {output.metrics:q}"
        " --output claims {output.claims:q} --params {params.json:q} > {log:q} 2>&1"

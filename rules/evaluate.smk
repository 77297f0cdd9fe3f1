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

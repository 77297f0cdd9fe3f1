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

# Paper tables (Markdown, CSV, LaTeX, HTML), figures, and the gathered claims table.


rule ocr_table:
    input:
        metrics="results/ocr/metrics/metrics.parquet",
        spectra="results/ocr/metrics/spectra.parquet",
        claims="results/claims/ocr.json",
    output:
        md="results/tables/ocr.md",
        csv="results/tables/ocr.csv",
        tex="results/tables/ocr.tex",
        html=report(
            "results/tables/ocr.html",
            caption="report/ocr_table.rst",
            category="ocr",
            labels={"figure": "paper table"},
        ),
        spectra_fig=report(
            "results/figures/ocr_spectra.png",
            caption="report/ocr_spectra.rst",
            category="ocr",
            labels={"figure": "W_OV spectrum"},
        ),
        head_dim_fig=report(
            "results/figures/ocr_head_dim.png",
            caption="report/ocr_head_dim.rst",
            category="ocr",
            labels={"figure": "head-dim sweep"},
        ),
    log:
        "results/logs/ocr/table.log",
    benchmark:
        "results/benchmarks/ocr/table.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        json=as_json(
            {**ocr_plan.table_params(exp_config("ocr")), **common_params("ocr")}
        ),
        code=code_version("attnlab.ocr.table"),
    shell:
        "python -m attnlab.ocr.table --input metrics {input.metrics:q}"
        " --input spectra {input.spectra:q} --input claims {input.claims:q}"
        " --output md {output.md:q} --output csv {output.csv:q} --output tex {output.tex:q}"
        " --output html {output.html:q} --output spectra_fig {output.spectra_fig:q}"
        " --output head_dim_fig {output.head_dim_fig:q} --params {params.json:q} > {log:q} 2>&1"


rule claims:
    input:
        claims=expand("results/claims/{exp}.json", exp=EXPERIMENTS),
    output:
        md=report(
            "results/claims.md",
            caption="report/claims.rst",
            category="claims",
            labels={"figure": "all claims"},
        ),
        csv="results/claims.csv",
    log:
        "results/logs/claims.log",
    benchmark:
        "results/benchmarks/claims.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=code_version("attnlab.report.claims_md"),
    shell:
        "python -m attnlab.report.claims_md --input claims {input.claims:q}"
        " --output md {output.md:q} --output csv {output.csv:q} > {log:q} 2>&1"

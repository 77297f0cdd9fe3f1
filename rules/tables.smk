# Paper tables (Markdown, CSV, LaTeX, HTML), figures, and the gathered claims table.


rule claims:
    input:
        claims=expand("results/claims/{exp}.json", exp=EXPERIMENTS),
    output:
        md="results/claims.md",
        csv="results/claims.csv",
        html=report(
            "results/claims.html",
            caption="report/claims.rst",
            category="claims",
            labels={"figure": "all claims"},
        ),
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
        " --output md {output.md:q} --output csv {output.csv:q} --output html {output.html:q}"
        " > {log:q} 2>&1"


rule external_model_table:
    input:
        retrieval_heads="results/external_models/{ext}/retrieval/heads.parquet",
        ablation="results/external_models/{ext}/retrieval/ablation.parquet",
        sink_heads="results/external_models/{ext}/sinks/heads.parquet",
        sink_samples="results/external_models/{ext}/sinks/samples.parquet",
        secondary="results/external_models/{ext}/sinks/secondary.parquet",
    output:
        md="results/tables/external_{ext}.md",
        csv="results/tables/external_{ext}.csv",
        tex="results/tables/external_{ext}.tex",
        html=report(
            "results/tables/external_{ext}.html",
            caption="report/external_model_table.rst",
            category="external_models",
            labels={"model": "{ext}", "figure": "table"},
        ),
        fig=report(
            "results/figures/external_{ext}_heads.png",
            caption="report/external_model_heads.rst",
            category="external_models",
            labels={"model": "{ext}", "figure": "heads"},
        ),
    log:
        "results/logs/external_models/{ext}/table.log",
    benchmark:
        "results/benchmarks/external_models/{ext}/table.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        json=lambda w: as_json(external_model_params(w.ext)),
        code=code_version("attnlab.heads.external_table"),
    shell:
        "python -m attnlab.heads.external_table --input retrieval_heads {input.retrieval_heads:q}"
        " --input ablation {input.ablation:q} --input sink_heads {input.sink_heads:q}"
        " --input sink_samples {input.sink_samples:q} --input secondary {input.secondary:q}"
        " --output md {output.md:q} --output csv {output.csv:q} --output tex {output.tex:q}"
        " --output html {output.html:q} --output fig {output.fig:q}"
        " --params {params.json:q} > {log:q} 2>&1"


# --- vision track ------------------------------------------------------------------------------------


rule image_world_table:
    input:
        parser="results/image_world/metrics/parser.json",
        samples="results/image_world/metrics/samples.parquet",
        claims="results/claims/image_world.json",
        images=vision_plan.sample_dirs("image_world", exp_config("image_world")),
    output:
        md="results/tables/image_world.md",
        csv="results/tables/image_world.csv",
        tex="results/tables/image_world.tex",
        html=report(
            "results/tables/image_world.html",
            caption="report/image_world_table.rst",
            category="image_world",
            labels={"figure": "paper table"},
        ),
        samples_fig=report(
            "results/figures/image_world_samples.png",
            caption="report/image_world_samples.rst",
            category="image_world",
            labels={"figure": "sample grid"},
        ),
    log:
        "results/logs/image_world/table.log",
    benchmark:
        "results/benchmarks/image_world/table.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        json=as_json(common_params("image_world")),
        code=code_version("attnlab.image_world.table"),
    shell:
        "python -m attnlab.image_world.table --input parser {input.parser:q}"
        " --input samples {input.samples:q} --input claims {input.claims:q}"
        " --input images {input.images:q} --output md {output.md:q} --output csv {output.csv:q}"
        " --output tex {output.tex:q} --output html {output.html:q}"
        " --output samples_fig {output.samples_fig:q} --params {params.json:q} > {log:q} 2>&1"


rule ir_diffusion_table:
    input:
        subjects="results/ir_diffusion/metrics/subjects.parquet",
        summary="results/ir_diffusion/metrics/summary.parquet",
        claims="results/claims/ir_diffusion.json",
        images=vision_plan.sample_dirs("ir_diffusion", exp_config("ir_diffusion")),
    output:
        md="results/tables/ir_diffusion.md",
        csv="results/tables/ir_diffusion.csv",
        tex="results/tables/ir_diffusion.tex",
        html=report(
            "results/tables/ir_diffusion.html",
            caption="report/ir_diffusion_table.rst",
            category="ir_diffusion",
            labels={"figure": "paper table"},
        ),
        samples_fig=report(
            "results/figures/ir_diffusion_samples.png",
            caption="report/ir_diffusion_samples.rst",
            category="ir_diffusion",
            labels={"figure": "sample grid"},
        ),
    log:
        "results/logs/ir_diffusion/table.log",
    benchmark:
        "results/benchmarks/ir_diffusion/table.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        json=as_json(common_params("ir_diffusion")),
        code=code_version("attnlab.ir_diffusion.table"),
    shell:
        "python -m attnlab.ir_diffusion.table --input subjects {input.subjects:q}"
        " --input summary {input.summary:q} --input claims {input.claims:q}"
        " --input images {input.images:q} --output md {output.md:q} --output csv {output.csv:q}"
        " --output tex {output.tex:q} --output html {output.html:q}"
        " --output samples_fig {output.samples_fig:q} --params {params.json:q} > {log:q} 2>&1"


rule mucr_table:
    input:
        pairs="results/mucr/metrics/pairs.parquet",
        levels="results/mucr/metrics/levels.parquet",
        claims="results/claims/mucr.json",
        images=vision_plan.sample_dirs("mucr", exp_config("mucr")),
    output:
        md="results/tables/mucr.md",
        csv="results/tables/mucr.csv",
        tex="results/tables/mucr.tex",
        html=report(
            "results/tables/mucr.html",
            caption="report/mucr_table.rst",
            category="mucr",
            labels={"figure": "paper table"},
        ),
        samples_fig=report(
            "results/figures/mucr_samples.png",
            caption="report/mucr_samples.rst",
            category="mucr",
            labels={"figure": "sample grid"},
        ),
    log:
        "results/logs/mucr/table.log",
    benchmark:
        "results/benchmarks/mucr/table.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        json=as_json(common_params("mucr")),
        code=code_version("attnlab.mucr.table"),
    shell:
        "python -m attnlab.mucr.table --input pairs {input.pairs:q}"
        " --input levels {input.levels:q} --input claims {input.claims:q}"
        " --input images {input.images:q} --output md {output.md:q} --output csv {output.csv:q}"
        " --output tex {output.tex:q} --output html {output.html:q}"
        " --output samples_fig {output.samples_fig:q} --params {params.json:q} > {log:q} 2>&1"


rule envision_table:
    input:
        scores="results/envision/metrics/scores.parquet",
        claims="results/claims/envision.json",
        images=vision_plan.sample_dirs("envision", exp_config("envision")),
    output:
        md="results/tables/envision.md",
        csv="results/tables/envision.csv",
        tex="results/tables/envision.tex",
        html=report(
            "results/tables/envision.html",
            caption="report/envision_table.rst",
            category="envision",
            labels={"figure": "paper table"},
        ),
        samples_fig=report(
            "results/figures/envision_samples.png",
            caption="report/envision_samples.rst",
            category="envision",
            labels={"figure": "sample grid"},
        ),
        scores_fig=report(
            "results/figures/envision_scores.png",
            caption="report/envision_scores.rst",
            category="envision",
            labels={"figure": "sub-scores"},
        ),
    log:
        "results/logs/envision/table.log",
    benchmark:
        "results/benchmarks/envision/table.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        json=as_json(common_params("envision")),
        code=code_version("attnlab.envision.table"),
    shell:
        "python -m attnlab.envision.table --input scores {input.scores:q}"
        " --input claims {input.claims:q} --input images {input.images:q}"
        " --output md {output.md:q} --output csv {output.csv:q} --output tex {output.tex:q}"
        " --output html {output.html:q} --output samples_fig {output.samples_fig:q}"
        " --output scores_fig {output.scores_fig:q} --params {params.json:q} > {log:q} 2>&1"

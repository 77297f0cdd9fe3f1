# The gathered claims table: every enabled experiment's claims in one Markdown/CSV/HTML table.


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

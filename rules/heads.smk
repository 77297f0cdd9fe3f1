# Attention-head analysis (envs/analysis.yaml): the same steps read our runs and any local
# Hugging Face causal LM (heads.external_models), through attnlab.heads.adapters.


# --- heads.external_models: a user's own local Hugging Face causal LM, same suites -----------------


rule external_model_retrieval:
    input:
        config=lambda w: f"{EXTERNAL_MODELS[w.ext]['path']}/config.json",
        data="results/retrieval_heads/data/test/seed0.parquet",
    output:
        heads="results/external_models/{ext}/retrieval/heads.parquet",
        ablation="results/external_models/{ext}/retrieval/ablation.parquet",
        maps="results/external_models/{ext}/retrieval/maps.parquet",
        samples="results/external_models/{ext}/retrieval/samples.parquet",
    log:
        "results/logs/external_models/{ext}/retrieval.log",
    benchmark:
        "results/benchmarks/external_models/{ext}/retrieval.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=120,
    params:
        json=lambda w: as_json(
            {
                **retrieval_heads_plan.heads_params(
                    exp_config("retrieval_heads"), BASE_SEED, 0
                ),
                "token_offset": EXTERNAL_MODELS[w.ext]["token_offset"],
            }
        ),
        code=code_version("attnlab.heads.retrieval_step"),
    shell:
        "python -m attnlab.heads.retrieval_step --input model {input.config:q}"
        " --input data {input.data:q} --output heads {output.heads:q}"
        " --output ablation {output.ablation:q} --output maps {output.maps:q}"
        " --output samples {output.samples:q} --params {params.json:q} > {log:q} 2>&1"


rule external_model_sinks:
    input:
        config=lambda w: f"{EXTERNAL_MODELS[w.ext]['path']}/config.json",
        data="results/attention_sinks/data/eval/seed0.parquet",
    output:
        heads="results/external_models/{ext}/sinks/heads.parquet",
        samples="results/external_models/{ext}/sinks/samples.parquet",
        secondary="results/external_models/{ext}/sinks/secondary.parquet",
        maps="results/external_models/{ext}/sinks/maps.parquet",
    log:
        "results/logs/external_models/{ext}/sinks.log",
    benchmark:
        "results/benchmarks/external_models/{ext}/sinks.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=120,
    params:
        json=lambda w: as_json(
            {
                **attention_sinks_plan.heads_params(exp_config("attention_sinks")),
                "token_offset": EXTERNAL_MODELS[w.ext]["token_offset"],
            }
        ),
        code=code_version("attnlab.heads.sink_step"),
    shell:
        "python -m attnlab.heads.sink_step --input model {input.config:q}"
        " --input data {input.data:q} --output heads {output.heads:q}"
        " --output samples {output.samples:q} --output secondary {output.secondary:q}"
        " --output maps {output.maps:q} --params {params.json:q} > {log:q} 2>&1"

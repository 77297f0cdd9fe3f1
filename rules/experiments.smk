# Every step of every enabled experiment, one rule each, from the records in attnlab.registry.
# A step's record (its experiment's plan.py) holds its paths, params and resources; this loop
# only wires them into Snakemake.


for exp, step in STEPS:

    rule:
        name:
            f"{exp}_{step.name}"
        input:
            unpack(step_inputs(step)),
        output:
            **step_outputs(exp, step),
        log:
            step.log_path(exp),
        benchmark:
            step.log_path(exp, "benchmarks", "tsv")
        wildcard_constraints:
            **step.constraints,
        conda:
            f"../envs/{step.env}.yaml"
        threads: step.threads or config["threads"]
        resources:
            mem_mb=step.mem_mb,
            runtime=step.runtime,
            gpu=config.get("gpu", 0) if step.gpu else 0,
        params:
            **step_params(exp, step),
        shell:
            STEP_SHELL

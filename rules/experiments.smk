# Every step of every registered experiment (and of the shared groups: the vision model,
# heads.external_models), one rule each, named <experiment>_<step>. A step's record in its
# experiment's plan.py holds its paths, params and resources; this loop only wires them.


for group, step in STEPS:

    rule:
        name:
            f"{group}_{step.name}"
        input:
            unpack(step_inputs(step)),
        output:
            **step_outputs(group, step),
        log:
            step.log_path(group),
        benchmark:
            step.log_path(group, "benchmarks", "tsv")
        wildcard_constraints:
            **step.constraints,
        priority: step_priority(step)
        conda:
            f"../envs/{step.env}.yaml"
        threads: step_threads(step)
        resources:
            **step_resources(step),
        params:
            **step_params(step),
        shell:
            STEP_SHELL

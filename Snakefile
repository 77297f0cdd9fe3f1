# attnlab: regenerate the tables and claims of papers on attention mechanisms.
#   snakemake --cores 2                                  default ("mini") scale
#   snakemake --cores 2 --configfile config/smoke.yaml   CI scale
#   snakemake --report results/report.html               the HTML report
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# The repository: where this file lies, also when a deployment includes it as a module (there
# workflow.basedir is the deployment's own workflow/ folder).
REPO = Path(workflow.current_basedir)


# The defaults, found beside this Snakefile whatever the working directory (-d) is.
configfile: REPO / "config" / "config.yaml"


report: "rules/report/workflow.rst"


include: "rules/common.smk"
include: "rules/experiments.smk"
include: "rules/tables.smk"


rule all:
    default_target: True
    input:
        final_outputs(),

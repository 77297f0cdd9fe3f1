# attnlab: regenerate the tables and claims of papers on attention mechanisms.
#   snakemake --cores 2                                  default ("mini") scale
#   snakemake --cores 2 --configfile config/smoke.yaml   CI scale
#   snakemake --report results/report.html               the HTML report
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# The defaults, found beside this Snakefile whatever the working directory (-d) is.
configfile: Path(workflow.basedir) / "config" / "config.yaml"


report: "rules/report/workflow.rst"


include: "rules/common.smk"
include: "rules/experiments.smk"
include: "rules/tables.smk"


rule all:
    default_target: True
    input:
        final_outputs(),

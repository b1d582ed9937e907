# efa-bench: one command from data to result tables.
#
#   snakemake --cores 2                                  # the default suite (config/config.yaml)
#   snakemake --cores 2 --configfile config/ci.yaml      # the tiny suite of the tests
#   snakemake -n --configfile config/paper.yaml          # plan the paper's matrix
#   snakemake --workflow-profile profiles/slurm --configfile config/paper.yaml
#
# The default profile (profiles/default) is used unless --workflow-profile names another. All
# logic lives in the efa package; the rules only call the efa command line. See docs/workflow.md.

import os

from snakemake.utils import min_version

min_version("9.0")


# The default suite, unless --configfile names another configuration (which then replaces it
# instead of being merged into it).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


# The download mirror reaches every job: local jobs inherit it, cluster jobs get it declared.
if "EFA_DATA_MIRROR" in os.environ:

    envvars:
        "EFA_DATA_MIRROR",


include: "workflow/rules/datasets.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/probes.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        PLAN.targets(),

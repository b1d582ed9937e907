# Shared set-up of the workflow: the configuration is checked while Snakemake parses the workflow,
# so a bad configuration stops before any job runs (first the JSON schema, in one line naming the
# key (efa.workflow.config.check_schema; Snakemake's validate then adds the defaults), then
# efa.workflow.config.validate_workflow_config, naming the offending key). Every decision the
# rules need comes from PLAN (efa.workflow.plan.Plan); the rules only declare.
#
# Jobs run the efa command line as 'python -m efa.cli' with this repository's package first on
# the module path: Python is the one Snakemake runs in (an un-activated '.venv/bin/snakemake'
# works), or the env of '--sdm conda' (workflow/envs/efa.yaml), which Snakemake puts first.
# Quoting: every value in the 'shell:' commands of the rules is written '{...:q}'; parameters
# that stand for several arguments are lists, which ':q' quotes item by item.

from pathlib import Path

from snakemake.utils import validate

from efa.workflow.config import check_config_files, check_schema, validate_workflow_config
from efa.workflow.plan import EFA, Plan, prepare_job_environment, store_marker, store_of
from efa.workflow.slurm_site import check_site

CONFIG_SOURCE = ", ".join(str(path) for path in workflow.configfiles) or "config"
check_config_files(workflow.configfiles)
check_schema(
    config, Path(workflow.current_basedir) / "../schemas/config.schema.yaml", CONFIG_SOURCE
)
validate(config, "../schemas/config.schema.yaml")  # the schema's defaults
validate_workflow_config(config, source=CONFIG_SOURCE)
prepare_job_environment(workflow.basedir)
PLAN = Plan(config)
DATASETS = PLAN.datasets_root
RESULTS = PLAN.results
LOGS = PLAN.logs
BENCHMARKS = PLAN.benchmarks


wildcard_constraints:
    **PLAN.wildcard_constraints(),


# On SLURM, refuse before the first submission a job that no node of its partition can ever run
# (SLURM would keep it pending forever without a word; efa.workflow.slurm_site).
onstart:
    if workflow.executor_plugin is not None and workflow.executor_plugin.name == "slurm":
        check_site(workflow.dag.needrun_jobs())

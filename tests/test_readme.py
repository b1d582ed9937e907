"""The README's quick start and CI run the same test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1]
    quick_start = quick_start.split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quick_start, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command_verbatim():
    test_commands = [line for line in readme_commands() if "pytest" in line]
    assert len(test_commands) == 1
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_commands[0] in ci_lines


def test_quick_start_has_at_most_two_commands_using_the_repo_venv():
    commands = readme_commands()
    assert 1 <= len(commands) <= 2
    assert all(".venv" in command for command in commands)


def readme_as_docs_home(readme: str) -> str:
    """The README with its links made relative to ``docs/`` (the site's home page)."""
    text = readme.replace("](docs/", "](")
    text = text.replace(
        "`config/README.md` describes", "the repository's `config/README.md` describes"
    )
    return text.replace("(see `LICENSE`)", "(see the repository's `LICENSE`)")


def test_docs_home_page_is_the_readme():
    readme = (ROOT / "README.md").read_text()
    assert "](docs/" in readme
    home = (ROOT / "docs" / "index.md").read_text()
    assert home == readme_as_docs_home(readme), (
        "docs/index.md differs from README.md: copy the README with its links relative to docs/"
    )


def test_readme_targets_are_the_generated_default_suite_page():
    """The README quotes the default suite's verdicts; docs/default-suite.md is that suite's
    ``results/tables/summary.md`` as ``efa report`` wrote it. Every verdict line, the targets
    line and the score lines of the README stand in that page's quality targets, in order, so
    the README cannot drift from a run."""
    readme = (ROOT / "README.md").read_text()
    page = (ROOT / "docs" / "default-suite.md").read_text()
    assert page.startswith("## Provenance\n"), "docs/default-suite.md: not a summary.md"
    targets = page.split("## Quality targets\n", 1)[1].split("\n## ", 1)[0]
    quoted = [
        line
        for line in readme.splitlines()
        if re.match(r"- \[(met|NOT met|n/a)\] ", line) or re.match(r"(targets met|scores) ", line)
    ]
    generated = [line for line in targets.splitlines() if line in quoted]
    assert quoted and generated == quoted
    commit = re.search(r"git ([0-9a-f]{7,})", page).group(1)
    assert f"`{commit[:7]}`" in readme, "the README names the commit of the run it quotes"

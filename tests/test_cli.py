"""The ``efa`` command."""

import subprocess
import sys

import pytest

from efa import __version__
from efa.cli.main import build_parser, main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_console_script_help():
    result = subprocess.run(
        [sys.executable, "-m", "efa.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: efa" in result.stdout


def _subcommand_paths(parser, prefix=()):
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, subparser in action.choices.items():
            yield prefix + (name,)
            yield from _subcommand_paths(subparser, prefix + (name,))


def test_every_subcommand_has_help(capsys):
    for path in _subcommand_paths(build_parser()):
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        assert exit_info.value.code == 0
        assert "usage: efa " + " ".join(path) in capsys.readouterr().out


def test_bash_completion_completes_commands_and_options(capsys, tmp_path):
    """The script of ``efa completion bash``, sourced in a real bash, completes a command and
    the options of a command."""
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "efa.bash"
    script.write_text(capsys.readouterr().out)
    probe = (
        f"source {script}\n"
        'COMP_WORDS=(efa tr); COMP_CWORD=1; _shtab_efa efa tr efa; echo "${COMPREPLY[@]}"\n'
        "COMP_WORDS=(efa train --max-s); COMP_CWORD=2; _shtab_efa efa --max-s train\n"
        'echo "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["train", "--max-steps"], result

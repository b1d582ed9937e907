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

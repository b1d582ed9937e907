"""``efa completion SHELL``: a tab-completion script of every command and option, for bash, zsh
or tcsh, generated from the parser itself (shtab), so it never falls behind the commands."""

from __future__ import annotations

import argparse

#: Shells shtab writes completion scripts for.
SHELLS = ("bash", "zsh", "tcsh")


def _completion(args: argparse.Namespace) -> int:
    import shtab

    from efa.cli.main import build_parser

    print(shtab.complete(build_parser(), shell=args.shell), end="")
    return 0


def register(subparsers) -> None:
    """Add ``efa completion``."""
    completion = subparsers.add_parser(
        "completion",
        help="print a tab-completion script for bash, zsh or tcsh",
        description="Print a script that completes efa's commands and options in SHELL.",
        epilog="bash:  efa completion bash > ~/.local/share/bash-completion/completions/efa\n"
        'zsh:   efa completion zsh > "${fpath[1]}/_efa"   (a folder on $fpath)\n'
        'or, for the current shell only:  eval "$(efa completion bash)"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    completion.set_defaults(handler=_completion)

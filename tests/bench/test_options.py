"""Wrong benchmark options are usage errors that name the option, before anything runs."""

import pytest

from efa.cli.main import main


@pytest.mark.parametrize(
    ("bench", "option", "value", "message"),
    [
        ("train", "--batch-size", "0", "expected an integer >= 1, got 0"),
        ("train", "--steps", "two", "expected an integer, got 'two'"),
        ("train", "--warmup", "-1", "expected an integer >= 0, got -1"),
        ("scale", "--sizes", "-5", "expected an integer >= 1, got -5"),
        ("scale", "--max-memory-gib", "0", "expected a finite number > 0, got 0"),
        ("scale", "--max-memory-gib", "nan", "expected a finite number > 0, got nan"),
        ("attention", "--sizes", "1k", "expected an integer, got '1k'"),
        ("attention", "--softmax-max-atoms", "0", "expected an integer >= 1, got 0"),
        ("attention", "--batch", "512", "expected STRUCTURESxATOMS"),
        ("attention", "--batch", "0x32", "got '0x32'"),
    ],
)
def test_bad_values_are_refused_naming_the_option(bench, option, value, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", bench, option, value, "--output-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert option in error and message in error
    assert not list(tmp_path.iterdir())  # nothing ran, nothing written


def test_batch_shape_default_is_parsed():
    from efa.cli.main import build_parser

    args = build_parser().parse_args(["bench", "attention"])
    assert args.batch == (512, 32)

"""The torchrun example that ``audiogan train --help`` prints is accepted by torchrun's own parser."""

from __future__ import annotations

import shlex

import pytest

from audiogan.cli import main


def _torchrun_example(capsys: pytest.CaptureFixture[str]) -> list[str]:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    lines = [
        line.strip() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("torchrun ")
    ]
    assert len(lines) == 1, "train --help should show one torchrun example"
    return shlex.split(lines[0])[1:]


def test_help_torchrun_example_parses_in_torchrun(capsys: pytest.CaptureFixture[str]) -> None:
    run = pytest.importorskip("torch.distributed.run")
    argv = _torchrun_example(capsys)
    args = run.get_args_parser().parse_args(argv)  # exits 2 ("ambiguous option") on the wrong form
    assert args.module and args.training_script == "audiogan"
    script_args = args.training_script_args
    assert script_args[0] == "train" and "--run" in script_args

"""The command line's conventions: one --params default ($TRIAGE_PARAMS when the command runs, else params.yaml), one
--env for the deployment environment with its old name --stage still accepted for a release, and the tools a command
runs (dvc, gto) found beside its own interpreter, as the stages find theirs."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from triage import config
from triage.cli import build_parser, find_own_tools, main
from triage.errors import ExitCode


def test_params_follow_the_environment_when_the_command_runs(tmp_path, monkeypatch):
    chosen = tmp_path / "other-params.yaml"
    chosen.write_text("gate: {min_cases: 7}\n")
    monkeypatch.setenv(config.PARAMS_VARIABLE, str(chosen))
    assert build_parser().parse_args(["gate"]).params is None  # no default frozen at import
    assert config.load_params(None) == {"gate": {"min_cases": 7}}
    monkeypatch.delenv(config.PARAMS_VARIABLE)
    assert config.params_file() == Path("params.yaml")


def test_every_params_option_has_the_same_default():
    parser = build_parser()
    for command in (["gate"], ["summary"], ["search"], ["compute", "choose"], ["monitor", "--env", "dev"],
                    ["simulate-shift", "--extract", "x", "--requests", "y"], ["contract", "check", "c.yaml"]):
        assert parser.parse_args(command).params is None, command


def test_the_old_stage_flag_still_works_and_says_what_replaces_it(capsys):
    args = build_parser().parse_args(["pull-model", "--stage", "prod", "--dest", "x"])
    assert args.env == "prod" and "--stage is deprecated, use --env" in capsys.readouterr().err
    assert build_parser().parse_args(["pull-model", "--env", "dev", "--dest", "x"]).env == "dev"
    with pytest.raises(SystemExit):  # prod stays a human decision
        build_parser().parse_args(["retrain", "--env", "prod"])


def test_commands_find_their_tools_beside_their_interpreter(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    find_own_tools()
    own = str(Path(sys.executable).parent)
    assert os.environ["PATH"].split(os.pathsep)[0] == own
    assert shutil.which("dvc") == str(Path(own) / "dvc")
    find_own_tools()  # idempotent: the directory is not added twice
    assert os.environ["PATH"].split(os.pathsep).count(own) == 1


def test_a_missing_metrics_file_is_bad_input_on_one_line(tmp_path, capsys):
    assert main(["gate", "--metrics", str(tmp_path / "absent.json")]) == ExitCode.BAD_INPUT
    assert len(capsys.readouterr().err.strip().splitlines()) == 1

"""The three layers and the rules that keep the code readable: the library (`triage.*`) never reaches up into
`triage.commands` (the CLI's entry points) or `triage.stages` (DVC's), nor parses arguments; commands never import a
stage; no cycle between the library's packages; the data contract loads without pandas; every command answers with
the one exit-code enum; and no source file grows past 300 lines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from triage.errors import ExitCode

from ..conftest import REPO
from .test_stage_deps import SRC, imported_names, imports_in

LIBRARY = SRC / "triage"
ENTRY_POINTS = ("commands", "stages")  # packages of entry points: nothing in the library imports them
# modules that are entry points themselves: the CLI's wiring, and the job runner a cloud job starts with
ENTRY_MODULES = {"triage.cli", "triage.cloud.job"}
MAX_LINES = 300
SOURCE_FOLDERS = ("src", "service", "dags", "infra/triage_infra", "tools", "benchmarks")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_modules() -> dict[str, Path]:
    modules = {module_name(path): path for path in LIBRARY.rglob("*.py")}
    return {name: path for name, path in modules.items() if name not in ENTRY_MODULES and
            (len(name.split(".")) < 2 or name.split(".")[1] not in ENTRY_POINTS)}


def test_the_library_never_imports_an_entry_point_nor_parses_arguments():
    offenders = {}
    for name, path in library_modules().items():
        bad = {imported for imported in imports_in(path) if imported == "argparse" or
               any(imported == f"triage.{layer}" or imported.startswith(f"triage.{layer}.") for layer in ENTRY_POINTS)}
        if bad:
            offenders[name] = sorted(bad)
    assert len(library_modules()) > 80  # the walk sees the library
    assert offenders == {}, f"library modules importing entry points or argparse: {offenders}"


def test_commands_import_no_stage():
    importers = {module_name(path): sorted(name for name in imports_in(path) if name.startswith("triage.stages"))
                 for path in (LIBRARY / "commands").glob("*.py")}
    assert len(importers) >= 8 and {name: found for name, found in importers.items() if found} == {}


def package_graph() -> dict[str, set[str]]:
    """Library package -> the library packages its modules import (triage.data -> triage.contract, ...)."""
    graph: dict[str, set[str]] = {}
    for name, path in library_modules().items():
        package = name.split(".")[1] if "." in name else name
        for imported in imported_names(path):
            parts = imported.split(".")
            if parts[0] == "triage" and len(parts) > 1 and parts[1] != package and parts[1] not in ENTRY_POINTS:
                graph.setdefault(package, set()).add(parts[1])
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        for successor in sorted(graph.get(node, ())):
            found = visit(successor, [*path, node])
            if found:
                return found
        return None

    return next((cycle for node in sorted(graph) if (cycle := visit(node, []))), None)


def test_no_cycle_between_the_librarys_packages():
    graph = package_graph()
    assert {"contract", "data", "model", "evaluation"} <= set(graph)  # the graph sees the packages
    assert find_cycle(graph) is None, f"a cycle between packages: {' -> '.join(find_cycle(graph))}"


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_the_data_contract_loads_without_pandas():
    script = ("import sys\nfrom triage.contract import load_contract\nload_contract('data/contracts/simulated.yaml')\n"
              "heavy = sorted(m for m in ('pandas', 'numpy', 'pyarrow', 'pandera') if m in sys.modules)\n"
              "print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def returned_literals(path: Path) -> list[str]:
    """`return 2`-style integer literals in a command module's functions (a command answers with ExitCode)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, int):
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_every_command_answers_with_the_one_exit_code_enum():
    from triage.cli import build_parser

    handlers = {action.dest: action for action in build_parser()._subparsers._group_actions}  # noqa: SLF001
    assert handlers  # the parser has commands
    literals = [found for path in (LIBRARY / "commands").glob("*.py") for found in returned_literals(path)]
    assert literals == [], f"commands returning bare integers instead of ExitCode: {literals}"
    defined = subprocess.run(["git", "grep", "-nE", r"^\s*EXIT_[A-Z_]+\s*=", "--", "src", "service", "dags"],
                             cwd=REPO, capture_output=True, text=True).stdout
    assert defined == "", f"exit codes defined outside triage.errors.ExitCode:\n{defined}"
    assert [code.value for code in ExitCode] == [0, 1, 2, 3]


def test_the_cli_help_lists_the_exit_codes():
    result = subprocess.run([sys.executable, "-m", "triage.cli", "--help"], cwd=REPO, capture_output=True, text=True,
                            check=True)
    assert all(f"{code.value} {code.name.lower().replace('_', ' ')}" in result.stdout for code in ExitCode)


def source_files() -> list[Path]:
    return sorted(path for folder in SOURCE_FOLDERS for path in (REPO / folder).rglob("*.py")
                  if ".venv" not in path.parts and "cdk.out" not in path.parts)


@pytest.mark.parametrize("limit", [MAX_LINES])
def test_no_source_file_is_longer_than_the_limit(limit):
    files = source_files()
    assert len(files) > 100
    long = {str(path.relative_to(REPO)): count for path in files
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > limit}
    assert long == {}, f"files over {limit} lines: {long}"

"""Every stage depends on all the code it runs, so editing any of it makes `dvc status` report the stage.

The import closure of each stage entry point (every `import` in the module and in what it imports, function-level
imports included, within src/) must be covered by the stage's deps in dvc.yaml (a file, or a folder holding it).
Stages that unpickle the trained pipeline run the model package's code too. Stage modules are entry points, never
imported by other code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from ..conftest import REPO

SRC = REPO / "src"
LOADS_THE_MODEL = {"evaluate", "export", "profile"}  # joblib.load of models/pipeline.joblib runs triage.model code


def module_file(name: str) -> Path | None:
    path = SRC.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_in(path: Path) -> set[str]:
    """Every module name the file imports, function-level imports included (`from pkg import x` names pkg.x too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def imported_names(path: Path) -> set[str]:
    return {name for name in imports_in(path) if name.split(".")[0] in ("triage", "triage_shared")}


def closure(module: str) -> set[Path]:
    seen: set[Path] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # the package __init__ files on the way run too
            path = module_file(".".join(parts[:depth]))
            if path is not None and path not in seen:
                seen.add(path)
                pending.extend(imported_names(path))
    return seen


def carries_code(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) and
               not (isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] ==
                    ["__version__"]) for node in body)


def stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(REPO)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


@pytest.mark.parametrize("name", sorted(stages()))
def test_each_stage_depends_on_all_the_code_it_runs(name):
    spec = stages()[name]
    assert spec["cmd"] == f"tools/stage {name}" and "tools/stage" in spec["deps"]
    needed = closure(f"triage.stages.{name}") | closure("triage.stages.__main__")  # tools/stage runs it
    if name in LOADS_THE_MODEL:
        needed |= set((SRC / "triage/model").glob("*.py"))
    missing = sorted(str(p.relative_to(REPO)) for p in needed if carries_code(p) and not covered(p, spec["deps"]))
    assert not missing, f"stage {name} runs code its deps do not list: {missing}"


def test_stage_modules_are_entry_points_never_imported():
    importers = []
    for path in [*SRC.rglob("*.py"), *(REPO / "tests").rglob("*.py"), *(REPO / "service").rglob("*.py")]:
        # the runner (`python -m triage.stages <name>`) may be called by tests: it is not a stage
        if re.search(r"^\s*(from triage\.stages\b(?!\.__main__ )|import triage\.stages\b)",
                     path.read_text(encoding="utf-8"), re.MULTILINE):
            importers.append(str(path.relative_to(REPO)))
    assert importers == [], f"stage modules imported as libraries by {importers}"


def test_the_closure_sees_function_level_imports():
    files = {str(p.relative_to(REPO)) for p in closure("triage.stages.simulate")}
    assert "src/triage/simulation/cohort.py" in files and "src/triage/data/simulated_marker.py" in files

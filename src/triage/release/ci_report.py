"""`triage report --base REF`: the pull-request report CML posts, built here so it runs and is tested locally.

Writes `<out>/report.md` and the images it references, what changed first: the headline table (the product's few
metrics, base against PR, a change marked when it goes the wrong way beyond the base's bootstrap interval), the
changed parameters right under it, the quality gate (absolute minimums and, against the base, the regression
tolerances of `gate.max_regression`), then per-class recall with the orphan line highlighted, the full metrics
diff (folded), the data evidence (validation accounting, drift of this branch's data against the base's) and the
confusion matrix and PR curves of both sides next to each other. Everything it reads from the base is in git
(metrics, plots, figures and the reference profile are `cache: false`), so pull requests from forks, which get no
secrets, get the full report too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from triage import config
from triage.monitoring.drift import compare_profiles
from triage.release.gate import check_gate, check_regression, provenance_lines
from triage.release.headline import LEGEND, HeadlineRow, headline_rows, headline_table
from triage_shared.artifacts import PROFILE_PATH
from triage_shared.classes import ORPHAN_CLASS

FIGURES = (("confusion.png", "Confusion matrix"), ("pr_curves.png", "Precision-recall curves"))
WATERMARK = "triage: model report"
DONE_OK = "CI/CD finished: the quality gate passes."
DONE_FAILED = "CI/CD finished: the quality gate FAILS."


class ReportError(RuntimeError):
    pass


def git_show(repo: Path, ref: str, path: str) -> bytes | None:
    result = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=repo, capture_output=True)
    return result.stdout if result.returncode == 0 else None


def dvc_markdown(repo: Path, kind: str, base: str) -> str:
    result = subprocess.run(["dvc", kind, "diff", "--md", base], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise ReportError(f"`dvc {kind} diff --md {base}` failed: {result.stderr.strip()[-500:]}")
    table = result.stdout.strip()
    return table if table.count("\n") > 1 else ""  # a header alone: nothing changed


def recall_table(base: dict | None, head: dict) -> str:
    lines = ["| class | base | PR | change |", "|---|---|---|---|"]
    for name, scores in head["model"]["per_class"].items():
        new = scores["recall"]
        old = (base or {}).get("model", {}).get("per_class", {}).get(name, {}).get("recall")
        cells = [name, "—" if old is None else f"{old:.4f}", f"{new:.4f}", "" if old is None else f"{new - old:+.4f}"]
        if name == ORPHAN_CLASS:  # the costly miss: highlighted
            cells = [f"**{cells[0]} (rare disease)**", *(f"**{cell}**" for cell in cells[1:])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def contract_line(base: dict | None, head: dict) -> str:
    """Which data contract each side trained under, and whether it changed (its values are in `dvc params diff`)."""
    def shown(metrics: dict | None) -> str:
        contract = (metrics or {}).get("contract")
        return f"`{contract['name']}` {contract['version']} (sha256 {contract['sha256'][:12]})" if contract else "—"

    changed = (base or {}).get("contract", {}).get("sha256") != head.get("contract", {}).get("sha256")
    line = f"Data contract: {shown(head)}; base: {shown(base)}" + (" — **changed**" if changed and base else "")
    if not head.get("orphan_decision", True):
        line += ". This model makes no orphan-disease decision: its data has no such class."
    return line


def validation_table(base: dict | None, head: dict) -> str:
    keys = (("rows_in", "rows received"), ("rows_clean", "clean rows"), ("rows_quarantined", "quarantined"),
            ("rows_duplicate", "duplicates"))
    lines = ["| | base | PR |", "|---|---|---|"]
    for key, label in keys:
        lines.append(f"| {label} | {base.get(key, '—') if base else '—'} | {head.get(key, '—')} |")
    for source, columns in head.get("columns_not_in_contract", {}).items():
        lines.append(f"\nColumns of `{source}` the contract does not name (not used): {', '.join(columns)}")
    return "\n".join(lines)


def drift_section(base_profile: dict | None, head_profile: dict | None, psi_threshold: float) -> str:
    if base_profile is None or head_profile is None:
        return "No reference profile on one of the sides: data drift is not compared."
    rows = compare_profiles(base_profile, head_profile)
    moved = [row for row in rows if row["psi"] >= psi_threshold]
    lines = [f"{len(moved)} of {len(rows)} features with PSI ≥ {psi_threshold} between the base's data and this PR's "
             "(each side's validation profile).", "",
             "| feature | PSI | p | missing base → PR |", "|---|---|---|---|"]
    lines += [f"| {row['feature']} | {row['psi']:.3f} | {row['p_value']:.2g} | {row['missing_base']:.1%} → "
              f"{row['missing_new']:.1%} |" for row in rows[:8]]
    return "\n".join(lines)


def figures_side_by_side(repo: Path, base: str, out: Path) -> list[str]:
    """Both sides' figures copied into `out`, each figure a two-column table whose headers say which side is which."""
    lines = []
    for name, title in FIGURES:
        head_file = repo / config.REPORTS / "figures" / name
        base_bytes = git_show(repo, base, f"reports/figures/{name}")
        if base_bytes is not None:
            (out / f"base_{name}").write_bytes(base_bytes)
        if head_file.exists():
            (out / name).write_bytes(head_file.read_bytes())
        base_cell = f"![{title}, base](./base_{name})" if base_bytes is not None else "(no figure in the base)"
        head_cell = f"![{title}, PR](./{name})" if head_file.exists() else "(no figure in this PR)"
        lines += [f"#### {title}", "", f"| base (`{base}`) | PR (this change) |", "|---|---|",
                  f"| {base_cell} | {head_cell} |", ""]
    return lines


def _json_at(repo: Path, base: str, path: str) -> dict | None:
    data = git_show(repo, base, path)
    return json.loads(data) if data else None


def gate_section(head_metrics: dict, base_metrics: dict | None, params: dict, repo: Path) -> tuple[list[str], bool]:
    gate = params["gate"]
    lines = [*provenance_lines(head_metrics, params, repo), *check_gate(head_metrics, gate),
             *check_regression(head_metrics, base_metrics, gate.get("max_regression", {}))]
    passed = all(line.passed for line in lines)
    verdict = "✅ **Quality gate: PASSES**" if passed else "❌ **Quality gate: FAILS**"
    return [verdict, "", "```", *map(str, lines), "```"], passed


def worse_beyond_interval(rows: list[HeadlineRow]) -> list[str]:
    marked = [row.label for row in rows if row.marked]
    return ["", f"**Attention: worse beyond the base's interval: {', '.join(marked)}.**"] if marked else []


def folded(summary: str, body: str) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", body, "", "</details>"]


def build_report(repo: Path, base: str, out: Path) -> tuple[str, bool]:
    """The markdown and whether the gate passed."""
    out.mkdir(parents=True, exist_ok=True)
    params = config.load_params(repo / "params.yaml")
    head_metrics = json.loads((repo / config.METRICS).read_text())
    base_metrics = _json_at(repo, base, config.METRICS.as_posix())
    gate_lines, passed = gate_section(head_metrics, base_metrics, params, repo)
    rows = headline_rows(base_metrics, head_metrics)
    head_profile_file = repo / PROFILE_PATH
    head_profile = json.loads(head_profile_file.read_text()) if head_profile_file.exists() else None
    metrics_diff = dvc_markdown(repo, "metrics", base) or "No metric changed."
    params_diff = dvc_markdown(repo, "params", base) or "No parameter changed."
    sections = [
        f"## {WATERMARK}", "", f"Compared with `{base}`.", "",
        "### What changes", "", headline_table(rows), "", LEGEND, *worse_beyond_interval(rows), "",
        "### Parameters changed (`dvc params diff`)", "", params_diff, "",
        contract_line(base_metrics, head_metrics), "",
        "### Quality gate", "", *gate_lines, "",
        "### Recall per class (the orphan row is the costly miss)", "", recall_table(base_metrics, head_metrics), "",
        "### All metrics", "", *folded("<code>dvc metrics diff</code>", metrics_diff), "",
        "### Data: validation", "",
        validation_table(_json_at(repo, base, config.VALIDATION_REPORT.as_posix()),
                         json.loads((repo / config.VALIDATION_REPORT).read_text())), "",
        "### Data: drift against the base", "",
        drift_section(_json_at(repo, base, PROFILE_PATH), head_profile, params["monitor"]["psi_threshold"]), "",
        "### Figures", "", *figures_side_by_side(repo, base, out),
        DONE_OK if passed else DONE_FAILED, "",
    ]
    markdown = "\n".join(sections)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    return markdown, passed

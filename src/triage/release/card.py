"""The model card published beside the model (`model-card.md`), written from the manifest alone — and so from the
data contract and the registry lineage `triage publish` adds: intended use, classes and the orphan decision, data,
metrics overall, per class and per subgroup, known limits."""

from __future__ import annotations

from collections import Counter


def model_card(manifest: dict) -> str:
    """The model card published beside the model, from the manifest alone (and so from the data contract)."""
    metrics = manifest.get("metrics", {})
    registry = manifest.get("registry", {})
    contract = manifest.get("contract", {})
    thresholds = manifest["thresholds"]
    simulated = manifest.get("data_source") == "simulated cohort"
    groups = Counter(feature.get("group", "") for feature in manifest["features"])
    lines = [
        f"# Model card: {manifest['name']} {registry.get('version', manifest.get('version'))}",
        "",
        f"Stage: {registry.get('stage', '-')} · published {registry.get('published_at', '-')} · git "
        f"{str(registry.get('commit') or 'unregistered')[:12]} · data contract {contract.get('name')} "
        f"{contract.get('version')} · ONNX sha256 `{manifest['onnx']['sha256']}`",
        "",
        "## Intended use",
        "A **triage aid** for clinicians: from the clinical data listed under Data it suggests a triage class with "
        "probabilities. **It is not a diagnosis.** When the top probability is below "
        f"{thresholds['review']:.2f} the answer says \"{thresholds['review_message_es']}\".",
        "",
        "## Classes",
        *[f"- `{c['code']}` — {c['label_es']}" for c in manifest["classes"]],
        "",
        orphan_decision_text(manifest),
        "",
        "## Data",
        f"Source: {'the simulated cohort (default contract)' if simulated else 'extracts under contract'} "
        f"`{contract.get('name')}` {contract.get('version')} (sha256 `{str(contract.get('sha256'))[:16]}…`): "
        f"{contract.get('description', '')}".rstrip(),
        *cdm_lines(manifest.get("cdm")),
        "",
        f"Training part: {manifest['training_data']['rows']} rows (md5 `{manifest['training_data']['md5']}`). "
        f"Features: {len(manifest['features'])} ("
        + ", ".join(f"{group or 'other'}: {count}" for group, count in groups.items()) + ").",
        "",
        "## Metrics (test part)",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in metrics.items()],
    ]
    per_class = manifest.get("metrics_per_class", {})
    if per_class:
        lines += ["", "| class | recall | precision | PR-AUC | support |", "|---|---|---|---|---|",
                  *[f"| {c} | {m['recall']} | {m['precision']} | {m['pr_auc']} | {m['support']} |"
                    for c, m in per_class.items()]]
    subgroups = manifest.get("subgroups", {})
    if subgroups:
        orphan = manifest.get("orphan_decision", True)
        lines += ["", "Recall by subgroup (macro recall" + (" / orphan recall" if orphan else "") + "):", ""]
        for group, values in subgroups.items():
            cells = ", ".join(f"{k}: {v['macro_recall']}" + (f"/{v.get('orphan_recall')}" if orphan else "")
                              for k, v in values.items())
            lines.append(f"- {group}: {cells}")
    lines += ["", "## Known limits", *known_limits(manifest, simulated), ""]
    return "\n".join(lines)


def orphan_decision_text(manifest: dict) -> str:
    if not manifest.get("orphan_decision", True):
        return ("Orphan decision: **none**. The training data has no orphan class, so this model never answers "
                "\"compatible with an orphan disease\"; a rare disease shows at most as the specialist-review flag.")
    target = manifest.get("params", {}).get("evaluate", {}).get("orphan_recall_target", "?")
    text = (f"Orphan decision: P(orphan) ≥ {manifest['thresholds']['orphan']:.4f} (cross-fitted on the training and "
            f"validation parts, out of fold and grouped by patient, for orphan recall {target}).")
    point = manifest.get("orphan_operating_point")
    if point:
        stated = point["at_stated_prevalence"]
        text += (f" On the test part ({point['cases']} orphan cases): sensitivity {point['sensitivity']:.3f} "
                 f"(95 % CI {point['sensitivity_ci'][0]:.3f}–{point['sensitivity_ci'][1]:.3f}), specificity "
                 f"{point['specificity']:.4f}, LR+ {point['lr_positive']}, LR− {point['lr_negative']}; at a "
                 f"prevalence of {stated['prevalence']:g}, PPV {stated['ppv']:.3f} and NPV {stated['npv']:.5f}.")
    return text


def known_limits(manifest: dict, simulated: bool) -> list[str]:
    limits = ["- Measured on a held-out part of the same data; performance on another population (another "
              "hospital, period or case mix) must be measured on local data before clinical use."]
    if simulated:
        limits += ["- Trained on a simulated cohort: real-world performance is unknown until measured on real data.",
                   "- Orphan diseases never seen in training are recognised only through shared red flags; recall on "
                   "them is lower."]
    limits += ["- Classes overlap; a share of visits gets the specialist-review flag by design.",
               "- Subgroups with few cases have wide uncertainty."]
    return limits


def cdm_lines(cdm: dict | None) -> list[str]:
    """Where an OMOP CDM was the source: the CDM, its version, the visits kept and the concept sets read."""
    if not cdm:
        return []
    removed = ", ".join(f"{rule}: {count}" for rule, count in cdm["removed_by_population_rules"].items()) or "none"
    sets = "; ".join(f"`{name}` {spec['domain']} {list(spec['concepts']) or list(spec['source_prefixes'])} in days "
                     f"[{spec['window']['start_days']}, {spec['window']['end_days']}]"
                     for name, spec in cdm["concept_sets"].items())
    return ["", f"OMOP CDM {cdm['cdm_version']} at `{cdm['cdm']}` ({cdm['engine']}): {cdm['visits']} of "
                f"{cdm['index_visits']} index visits (removed by population rules: {removed}). Concept sets: {sets}."]

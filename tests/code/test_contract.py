"""The data contract file: the default contract, its derived parts, and a file that breaks its own rules refused
with the file, the field and the rule."""

from pathlib import Path

import pytest
import yaml

from triage.contract import ContractFileError, load_contract
from triage.data.columns import LABEL_COLUMN, OUTCOME_CODE, PATIENT_ID, VISIT_ID
from triage.data.validation import clean_table_schema
from triage.model.features import feature_matrix
from triage.simulation.vocabulary import red_flag_columns, symptoms
from triage_shared.classes import CLASS_LABELS_ES, CLASSES

DEFAULT = Path("data/contracts/simulated.yaml")


def test_default_contract_holds_the_simulator_vocabulary(contract):
    names = [s.name for s in symptoms()]
    assert len(names) == len(set(names)) >= 50
    assert all(s.hpo_id.startswith("HP:") and len(s.hpo_id) == 10 for s in symptoms())
    assert {"sx_seizures", "sx_hypotonia", "sx_hearing_loss", "sx_bleeding", "sx_short_stature"} <= set(
        red_flag_columns())
    assert contract.classes == CLASSES and contract.orphan_index == 4
    assert contract.feature_names[:3] == ("age_years", "sex", "temperature_c")


def test_features_exclude_identity_context_and_outcome(contract):
    spec = contract.spec
    forbidden = {spec.identifiers.patient, spec.identifiers.visit, *spec.personal_data,
                 spec.context.visit_date.column, spec.context.site, spec.outcome.column}
    assert not forbidden & set(contract.feature_names)


def test_feature_specs_follow_the_file_order_with_ranges_units_and_groups(contract):
    specs = contract.feature_specs()
    assert [s["name"] for s in specs] == list(contract.feature_names)
    temperature = specs[contract.feature_names.index("temperature_c")]
    assert (temperature["minimum"], temperature["maximum"], temperature["nullable"]) == (30, 45, True)
    assert (temperature["unit"], temperature["group"], temperature["codes"]) == ("°C", "Constantes vitales",
                                                                               {"loinc": "8310-5"})
    sex = specs[1]
    assert sex["categories"] == ["F", "M", "U"] and sex["encoding"] == {"F": 0.0, "M": 1.0, "U": None}
    assert sex["labels_es"]["U"] == "No consta"


def test_pandera_schema_is_generated_from_the_contract(contract):
    columns = set(clean_table_schema(contract).columns)
    assert columns == {PATIENT_ID, VISIT_ID, "visit_date", "site_id", *contract.feature_names, OUTCOME_CODE,
                       LABEL_COLUMN}


def test_every_class_has_a_spanish_label():
    assert set(CLASS_LABELS_ES) == set(CLASSES)
    assert CLASS_LABELS_ES["orphan"] == "COMPATIBLE CON ENFERMEDAD HUÉRFANA"


def test_unknown_sex_is_a_missing_model_input(contract, labelled_cohort):
    frame = labelled_cohort.head(3).assign(sex=["F", "M", "U"])
    column = feature_matrix(frame, contract)[:, 1]
    assert column[0] == 0.0 and column[1] == 1.0 and column[2] != column[2]


def write_variant(tmp_path, edit) -> Path:
    data = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(("edit", "field", "rule"), [
    (lambda d: d["features"]["age_years"].update(type="integer"), "features.age_years",
     "unknown type 'integer' (rule: one of 'int', 'float', 'binary', 'category')"),
    (lambda d: d["features"]["age_years"].update(min=150), "features.age_years", "min 150 is greater than max 120"),
    (lambda d: d["outcome"]["classes"].update(severe=["R57"]), "outcome", "not among the product's triage classes"),
    (lambda d: d["outcome"]["classes"]["acute"].append("I10"), "outcome",
     "code 'I10' is mapped to two classes: 'acute' and 'chronic'"),
    (lambda d: d["outcome"].update(classes={"none": ["Z00"]}), "outcome", "at least two triage classes"),
    (lambda d: d["features"]["sex"].update(colour="red"), "features.sex.colour", "Extra inputs are not permitted"),
    (lambda d: d["features"]["sx_fever"].update(codes={"hpo": "fever"}), "features.sx_fever.codes",
     "does not look like one"),
    (lambda d: d["features"]["sx_fever"].update(true_values=["1", "si"], false_values=["0", "SI"]),
     "features.sx_fever", "listed as both true and false"),
    (lambda d: d["features"]["sex"]["categories"]["M"]["spellings"].append("mujer"), "features.sex",
     "spelling 'mujer' belongs to both 'F' and 'M'"),
    (lambda d: d.update(personal_data=["full_name", "age_years"]), "(top level)",
     "column 'age_years' has two roles"),
    (lambda d: d["features"].update({"2nd": {"type": "binary", "label_es": "x"}}), "(top level)",
     "must start with a letter"),
])
def test_a_contract_that_breaks_its_rules_is_refused_naming_file_field_and_rule(tmp_path, edit, field, rule):
    path = write_variant(tmp_path, edit)
    with pytest.raises(ContractFileError) as caught:
        load_contract(path)
    message = str(caught.value)
    assert str(path) in message and f"{field}:" in message and rule in message, message


def test_a_key_written_twice_is_refused_with_its_line(tmp_path):
    text = DEFAULT.read_text(encoding="utf-8").replace("  sex:\n", "  age_years:\n    type: int\n    label_es: x\n"
                                                      "    min: 0\n    max: 1\n  sex:\n", 1)
    path = tmp_path / "twice.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractFileError, match=r"twice.yaml: line \d+: key 'age_years' appears twice"):
        load_contract(path)


def test_unreadable_and_non_mapping_files_are_refused(tmp_path):
    with pytest.raises(ContractFileError, match="cannot read"):
        load_contract(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ContractFileError, match="a contract is a YAML mapping"):
        load_contract(tmp_path / "list.yaml")


def test_yes_and_no_stay_text_and_numeric_codes_read_as_text(tmp_path):
    def edit(data):
        data["features"]["sx_fever"].update(true_values=["yes", "si"], false_values=["no"])
        data["outcome"]["classes"]["none"].append(0)

    text = yaml.safe_dump(yaml.safe_load(DEFAULT.read_text(encoding="utf-8")), allow_unicode=True, sort_keys=False)
    data = yaml.safe_load(text)
    edit(data)
    path = tmp_path / "yes.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False).replace("'yes'", "yes")
                    .replace("'no'", "no"), encoding="utf-8")
    assert "- yes" in path.read_text() or "yes," in path.read_text()
    contract = load_contract(path)
    assert contract.features["sx_fever"].true_values == ("yes", "si")
    assert "0" in contract.spec.outcome.classes["none"]


def test_contract_sha256_changes_with_the_file(tmp_path, contract):
    path = write_variant(tmp_path, lambda d: d["features"]["age_years"].update(label_es="Edad (años)"))
    assert load_contract(path).sha256 != contract.sha256

from triage import schema
from triage.stages.validate import clean_table_schema


def test_symptom_vocabulary_is_unique_and_hpo_coded():
    names = [s.name for s in schema.SYMPTOMS]
    assert len(names) == len(set(names)) >= 50
    assert all(s.hpo_id.startswith("HP:") and len(s.hpo_id) == 10 for s in schema.SYMPTOMS)
    assert {"sx_seizures", "sx_hypotonia", "sx_hearing_loss", "sx_bleeding", "sx_short_stature"} <= set(
        schema.RED_FLAG_COLUMNS)


def test_model_features_exclude_identity_and_context():
    forbidden = {schema.PATIENT_ID, *schema.PERSONAL_DATA_COLUMNS, *schema.CONTEXT_COLUMNS, schema.OUTCOME_COLUMN}
    assert not forbidden & set(schema.MODEL_FEATURES)


def test_feature_specs_follow_model_feature_order_with_ranges():
    specs = schema.feature_specs()
    assert [s["name"] for s in specs] == list(schema.MODEL_FEATURES)
    temperature = specs[schema.MODEL_FEATURES.index("temperature_c")]
    assert (temperature["minimum"], temperature["maximum"], temperature["nullable"]) == (30, 45, True)
    assert specs[1]["categories"] == ["F", "M", "U"]


def test_pandera_schema_is_generated_from_the_contract():
    columns = set(clean_table_schema().columns)
    assert columns == set(schema.CLEAN_COLUMNS)


def test_every_class_has_a_spanish_label():
    assert set(schema.CLASS_LABELS_ES) == set(schema.CLASSES)
    assert schema.CLASS_LABELS_ES["orphan"] == "COMPATIBLE CON ENFERMEDAD HUÉRFANA"


def test_sex_encoding_treats_unknown_as_missing():
    encoded = schema.encode_sex(["F", "M", "U"])
    assert encoded[:2] == [0.0, 1.0] and encoded[2] != encoded[2]

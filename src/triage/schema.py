"""The one feature contract of triage.

Every other part derives from this module: the Pandera schema of the clean table, the column order of the ONNX
input, the feature list written into the model manifest (from which the service builds its request model), the
symptom vocabulary the reference stage projects HPO terms onto, and the Spanish labels clinicians read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SCHEMA_VERSION = "1.0.0"


@dataclass(frozen=True)
class NumericField:
    name: str
    dtype: str  # "int" or "float"
    minimum: float
    maximum: float
    nullable: bool
    unit: str
    label_es: str


@dataclass(frozen=True)
class Symptom:
    name: str  # without the sx_ prefix
    hpo_id: str  # the HPO term the vocabulary symptom stands for (reference stage walks up to it)
    label_es: str
    red_flag: bool = False  # a sign that should make a triage nurse think of a rare disease

    @property
    def column(self) -> str:
        return f"sx_{self.name}"


# --- triage classes ---------------------------------------------------------------------------------------------
CLASSES: tuple[str, ...] = ("none", "mild", "acute", "chronic", "orphan")
CLASS_LABELS_ES: dict[str, str] = {
    "none": "NO ENFERMO",
    "mild": "ENFERMEDAD LEVE",
    "acute": "ENFERMEDAD AGUDA",
    "chronic": "ENFERMEDAD CRÓNICA",
    "orphan": "COMPATIBLE CON ENFERMEDAD HUÉRFANA",
}
ORPHAN_CLASS = "orphan"
REVIEW_MESSAGE_ES = "Revisión por especialista"

# --- identity (personal data) and context -------------------------------------------------------------------------
PATIENT_ID = "patient_id"
PERSONAL_DATA_COLUMNS: tuple[str, ...] = ("full_name", "national_id", "birth_date")
CONTEXT_COLUMNS: tuple[str, ...] = ("visit_id", "visit_date", "site_id")
OUTCOME_COLUMN = "diagnosis_code"
LABEL_COLUMN = "triage_class"

SEX_CODES: tuple[str, ...] = ("F", "M", "U")
# Spellings seen in real extracts, normalised at ingest. Anything else is a contract error (quarantined).
SEX_SPELLINGS: dict[str, str] = {
    "f": "F", "female": "F", "fem": "F", "mujer": "F", "w": "F", "2": "F",
    "m": "M", "male": "M", "masc": "M", "hombre": "M", "h": "M", "varon": "M", "varón": "M", "1": "M",
    "u": "U", "unknown": "U", "desconocido": "U", "x": "U", "0": "U", "9": "U", "": "U",
}
# Model input encoding of sex: U is unknown, i.e. missing (imputed inside the exported graph).
SEX_ENCODING: dict[str, float | None] = {"F": 0.0, "M": 1.0, "U": None}

AGE = NumericField("age_years", "int", 0, 120, False, "años", "Edad")
VITALS: tuple[NumericField, ...] = (
    NumericField("temperature_c", "float", 30, 45, True, "°C", "Temperatura"),
    NumericField("heart_rate_bpm", "int", 20, 250, True, "lpm", "Frecuencia cardiaca"),
    NumericField("resp_rate_bpm", "int", 4, 80, True, "rpm", "Frecuencia respiratoria"),
    NumericField("spo2_pct", "int", 50, 100, True, "%", "Saturación de oxígeno"),
    NumericField("systolic_bp_mmhg", "int", 50, 260, True, "mmHg", "Presión arterial sistólica"),
)
HISTORY: tuple[NumericField, ...] = (
    NumericField("symptom_days", "int", 0, 3650, False, "días", "Días con síntomas"),
    NumericField("comorbidity_count", "int", 0, 20, False, "", "Número de comorbilidades"),
)
NUMERIC_FIELDS: tuple[NumericField, ...] = (AGE, *VITALS, *HISTORY)

SYMPTOMS: tuple[Symptom, ...] = (
    # general / nonspecific (shared by common and orphan diseases)
    Symptom("fever", "HP:0001945", "Fiebre"),
    Symptom("fatigue", "HP:0012378", "Cansancio"),
    Symptom("weight_loss", "HP:0001824", "Pérdida de peso"),
    Symptom("headache", "HP:0002315", "Dolor de cabeza"),
    Symptom("myalgia", "HP:0003326", "Dolor muscular"),
    Symptom("arthralgia", "HP:0002829", "Dolor articular"),
    Symptom("joint_swelling", "HP:0001386", "Inflamación articular"),
    Symptom("back_pain", "HP:0003418", "Dolor de espalda"),
    Symptom("edema", "HP:0000969", "Edema"),
    # respiratory / ENT
    Symptom("cough", "HP:0012735", "Tos"),
    Symptom("dyspnea", "HP:0002094", "Dificultad respiratoria"),
    Symptom("wheezing", "HP:0030828", "Sibilancias"),
    Symptom("sore_throat", "HP:0033050", "Dolor de garganta"),
    Symptom("rhinorrhea", "HP:0031417", "Rinorrea"),
    Symptom("ear_pain", "HP:0030766", "Dolor de oído"),
    # cardiovascular
    Symptom("chest_pain", "HP:0100749", "Dolor torácico"),
    Symptom("palpitations", "HP:0001962", "Palpitaciones"),
    Symptom("syncope", "HP:0001279", "Síncope"),
    Symptom("cardiomyopathy", "HP:0001638", "Miocardiopatía", red_flag=True),
    # digestive
    Symptom("nausea", "HP:0002018", "Náuseas"),
    Symptom("vomiting", "HP:0002013", "Vómitos"),
    Symptom("diarrhea", "HP:0002014", "Diarrea"),
    Symptom("constipation", "HP:0002019", "Estreñimiento"),
    Symptom("abdominal_pain", "HP:0002027", "Dolor abdominal"),
    Symptom("jaundice", "HP:0000952", "Ictericia"),
    Symptom("hepatomegaly", "HP:0002240", "Hepatomegalia", red_flag=True),
    Symptom("splenomegaly", "HP:0001744", "Esplenomegalia", red_flag=True),
    # urinary / metabolic
    Symptom("dysuria", "HP:0100518", "Disuria"),
    Symptom("polyuria", "HP:0000103", "Poliuria"),
    Symptom("polydipsia", "HP:0001959", "Polidipsia"),
    Symptom("hematuria", "HP:0000790", "Hematuria"),
    Symptom("proteinuria", "HP:0000093", "Proteinuria"),
    # skin
    Symptom("rash", "HP:0000988", "Erupción cutánea"),
    Symptom("pruritus", "HP:0000989", "Picor"),
    Symptom("hyperpigmentation", "HP:0000953", "Hiperpigmentación cutánea"),
    Symptom("photosensitivity", "HP:0000992", "Fotosensibilidad"),
    # blood / immune
    Symptom("anemia", "HP:0001903", "Anemia"),
    Symptom("bleeding", "HP:0001892", "Sangrado anormal", red_flag=True),
    Symptom("recurrent_infections", "HP:0002719", "Infecciones recurrentes", red_flag=True),
    # neurological
    Symptom("vertigo", "HP:0002321", "Vértigo"),
    Symptom("confusion", "HP:0001289", "Confusión"),
    Symptom("tremor", "HP:0001337", "Temblor"),
    Symptom("muscle_spasm", "HP:0003394", "Espasmos musculares"),
    Symptom("muscle_weakness", "HP:0001324", "Debilidad muscular"),
    Symptom("seizures", "HP:0001250", "Convulsiones", red_flag=True),
    Symptom("ataxia", "HP:0001251", "Ataxia", red_flag=True),
    Symptom("hypotonia", "HP:0001252", "Hipotonía", red_flag=True),
    # development / growth / senses
    Symptom("developmental_delay", "HP:0001263", "Retraso del desarrollo", red_flag=True),
    Symptom("intellectual_disability", "HP:0001249", "Discapacidad intelectual", red_flag=True),
    Symptom("failure_to_thrive", "HP:0001508", "Retraso del crecimiento", red_flag=True),
    Symptom("short_stature", "HP:0004322", "Talla baja", red_flag=True),
    Symptom("microcephaly", "HP:0000252", "Microcefalia", red_flag=True),
    Symptom("facial_dysmorphism", "HP:0001999", "Rasgos faciales atípicos", red_flag=True),
    Symptom("hearing_loss", "HP:0000365", "Pérdida auditiva", red_flag=True),
    Symptom("visual_impairment", "HP:0000505", "Pérdida de visión", red_flag=True),
    # musculoskeletal
    Symptom("scoliosis", "HP:0002650", "Escoliosis", red_flag=True),
    Symptom("joint_hypermobility", "HP:0001382", "Hiperlaxitud articular", red_flag=True),
    Symptom("recurrent_fractures", "HP:0002757", "Fracturas recurrentes", red_flag=True),
)
SYMPTOM_COLUMNS: tuple[str, ...] = tuple(s.column for s in SYMPTOMS)
RED_FLAG_COLUMNS: tuple[str, ...] = tuple(s.column for s in SYMPTOMS if s.red_flag)

# --- derived column lists -------------------------------------------------------------------------------------------
# Features the model sees, in the order of the ONNX input tensor. Site and visit date are context, not features:
# a triage model must not learn which clinic a patient walked into.
MODEL_FEATURES: tuple[str, ...] = (AGE.name, "sex", *(f.name for f in VITALS), *(f.name for f in HISTORY),
                                   *SYMPTOM_COLUMNS)
RAW_COLUMNS: tuple[str, ...] = (PATIENT_ID, *PERSONAL_DATA_COLUMNS, *CONTEXT_COLUMNS, AGE.name, "sex",
                                *(f.name for f in VITALS), *(f.name for f in HISTORY), *SYMPTOM_COLUMNS,
                                OUTCOME_COLUMN)
CLEAN_COLUMNS: tuple[str, ...] = (PATIENT_ID, *CONTEXT_COLUMNS, *MODEL_FEATURES, OUTCOME_COLUMN, LABEL_COLUMN)


def numeric_field(name: str) -> NumericField:
    for field in NUMERIC_FIELDS:
        if field.name == name:
            return field
    raise KeyError(f"{name!r} is not a numeric field of the schema")


def feature_specs() -> list[dict]:
    """The feature list written to the manifest: name, type, range, nullability, encoding and Spanish label.

    The service builds its request model from this list, so it is the contract that travels with the model.
    """
    specs: list[dict] = []
    for name in MODEL_FEATURES:
        if name == "sex":
            specs.append({"name": "sex", "type": "category", "categories": list(SEX_CODES),
                          "encoding": SEX_ENCODING, "nullable": False, "label_es": "Sexo"})
        elif name.startswith("sx_"):
            symptom = SYMPTOMS[SYMPTOM_COLUMNS.index(name)]
            specs.append({"name": name, "type": "binary", "minimum": 0, "maximum": 1, "nullable": True,
                          "hpo_id": symptom.hpo_id, "red_flag": symptom.red_flag, "label_es": symptom.label_es})
        else:
            field = asdict(numeric_field(name))
            field["type"] = field.pop("dtype")
            specs.append(field)
    return specs


def encode_sex(codes) -> list[float]:
    """Model encoding of normalised sex codes (F/M/U) as floats, U becoming NaN."""
    nan = float("nan")
    return [nan if SEX_ENCODING.get(code) is None else SEX_ENCODING[code] for code in codes]

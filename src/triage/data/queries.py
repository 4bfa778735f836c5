"""The global steps, written once as SQL and run by either executor: DuckDB (local, embedded, spilling to disk) or
Spark SQL (the same text, transpiled by sqlglot).

Over the table `rows` (the row kernel's output, triage.data.kernels):
- duplicates: a row whose raw text equals an earlier row's (`record_order`) is an exact duplicate; a row whose
  normalised values equal an earlier row's is a near duplicate (the same visit re-exported). A malformed row is
  never a duplicate, nor the original of one;
- a visit id held by two remaining rows is refused on both (the contract's unique visit id);
- the clean rows, the quarantined rows and the counts.

Over the table `clean`, the split by patient: each patient's class is the rarest of their visits; within a class,
patients in the order of md5(seed:patient) fill the test part, then the validation part, by their share of the
class's visits; a class of three patients or more gets at least one in test and one in validation while one stays
in training; a patient with a held-out disease goes to test. Each step is a window over the patients of one class,
so both engines compute it the same way (integer counts, one division, IEEE doubles).
"""

from __future__ import annotations

from functools import cache

import sqlglot

from triage.contract import Contract
from triage.data.checks import TrainingDataError
from triage.data.columns import LABEL_COLUMN, OUTCOME_CODE, PATIENT_ID, VISIT_DATE, VISIT_ID
from triage.data.extracts import RECORD_ID
from triage.data.kernels import EXACT_DIGEST, MALFORMED, NEAR_DIGEST, REASONS, RECORD_ORDER

DIALECTS = {"local": "duckdb", "spark": "spark"}

FLAGGED = f"""
WITH exact AS (
  SELECT *,
    CASE WHEN {MALFORMED} THEN FALSE
         ELSE row_number() OVER (PARTITION BY {MALFORMED}, {EXACT_DIGEST[0]}, {EXACT_DIGEST[1]}
                                 ORDER BY {RECORD_ORDER}) > 1 END AS exact_duplicate
  FROM rows
), near AS (
  SELECT *,
    CASE WHEN {MALFORMED} OR exact_duplicate THEN FALSE
         ELSE row_number() OVER (PARTITION BY {MALFORMED}, exact_duplicate, {NEAR_DIGEST[0]}, {NEAR_DIGEST[1]}
                                 ORDER BY {RECORD_ORDER}) > 1 END AS near_duplicate
  FROM exact
)
SELECT *,
  CASE WHEN {MALFORMED} OR exact_duplicate OR near_duplicate THEN 0
       ELSE count(*) OVER (PARTITION BY {MALFORMED}, exact_duplicate OR near_duplicate, {VISIT_ID}) END AS visit_copies
FROM near
"""

COUNTS = """
SELECT count(*) AS rows_in,
       coalesce(sum(CASE WHEN exact_duplicate THEN 1 ELSE 0 END), 0) AS rows_exact_duplicate,
       coalesce(sum(CASE WHEN near_duplicate THEN 1 ELSE 0 END), 0) AS rows_near_duplicate
FROM flagged
"""

KEPT = "NOT exact_duplicate AND NOT near_duplicate"
REPEATED_VISIT = "visit_copies > 1"


def listed(columns: list[str], table: str = "") -> str:
    """Column names quoted (a feature may be called like an SQL keyword), optionally qualified by `table`."""
    return ", ".join(f"{table}.{quoted_name(column)}" if table else quoted_name(column) for column in columns)


def clean_query(columns: list[str]) -> str:
    return (f"SELECT {listed(columns)}, {RECORD_ID}, {RECORD_ORDER} FROM flagged "
            f"WHERE {KEPT} AND {REASONS} IS NULL AND NOT ({REPEATED_VISIT}) ORDER BY {RECORD_ORDER}")


def quarantine_query(columns: list[str]) -> str:
    return (f"SELECT {RECORD_ID}, {REASONS}, {REPEATED_VISIT} AS repeated_visit, {listed(columns)} FROM flagged "
            f"WHERE {KEPT} AND ({REASONS} IS NOT NULL OR {REPEATED_VISIT}) ORDER BY {RECORD_ORDER}")


def double(number: float) -> str:
    """A float literal both engines read as the same IEEE double (a bare 0.2 is a DECIMAL literal to both)."""
    return f"CAST('{float(number)!r}' AS DOUBLE)"


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def class_rank(classes: tuple[str, ...]) -> str:
    """The class's position in product order (the rarest class is last)."""
    whens = " ".join(f"WHEN {quoted(name)} THEN {rank}" for rank, name in enumerate(classes))
    return f"CASE {LABEL_COLUMN} {whens} END"


def held_out(holdout: set[str]) -> str:
    return f"{OUTCOME_CODE} IN ({', '.join(quoted(code) for code in sorted(holdout))})" if holdout else "FALSE"


def patient_parts_query(classes: tuple[str, ...], holdout: set[str], seed: int, test_size: float,
                        val_size: float) -> str:
    """patient_id -> part ('train', 'valid' or 'test'): the class-stratified split by patient."""
    test, valid = float(test_size), float(test_size) + float(val_size)
    return f"""
WITH patients AS (
  SELECT {PATIENT_ID}, count(*) AS visits, max({class_rank(classes)}) AS class_rank,
         max(CASE WHEN {held_out(holdout)} THEN 1 ELSE 0 END) AS held_out
  FROM clean GROUP BY {PATIENT_ID}
), ordered AS (
  SELECT *, md5(concat({quoted(str(int(seed)))}, ':', {PATIENT_ID})) AS shuffle_key FROM patients
), shares AS (
  SELECT *,
    sum(visits) OVER (PARTITION BY class_rank ORDER BY shuffle_key ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
      / CAST(sum(visits) OVER (PARTITION BY class_rank) AS DOUBLE) AS share,
    row_number() OVER (PARTITION BY class_rank ORDER BY shuffle_key) AS position,
    count(*) OVER (PARTITION BY class_rank) AS class_patients
  FROM ordered
), first_pass AS (
  SELECT *, CASE WHEN share <= {double(test)} THEN 'test' WHEN share <= {double(valid)} THEN 'valid' ELSE 'train' END
    AS part0
  FROM shares
), test_ensured AS (
  SELECT *,
    CASE WHEN class_patients >= 3 AND position = 1
              AND max(CASE WHEN part0 = 'test' THEN 1 ELSE 0 END) OVER (PARTITION BY class_rank) = 0
         THEN 'test' ELSE part0 END AS part1
  FROM first_pass
), valid_candidates AS (
  SELECT *,
    max(CASE WHEN part1 = 'valid' THEN 1 ELSE 0 END) OVER (PARTITION BY class_rank) AS has_valid,
    sum(CASE WHEN part1 = 'train' THEN 1 ELSE 0 END) OVER (PARTITION BY class_rank) AS in_train,
    min(CASE WHEN part1 = 'train' THEN position END) OVER (PARTITION BY class_rank) AS first_train
  FROM test_ensured
)
SELECT {PATIENT_ID},
  CASE WHEN held_out = 1 THEN 'test'
       WHEN class_patients >= 3 AND has_valid = 0 AND in_train >= 2 AND position = first_train THEN 'valid'
       ELSE part1 END AS part
FROM valid_candidates
"""


def temporal_parts_query(test_size: float, val_size: float) -> str:
    """patient_id -> part by visit date: the visits of the last `test_size` of dates (linear quantiles) are test,
    the `val_size` before them validation; a patient seen in a later period goes wholly to the later part."""
    valid_from, test_from = 1 - float(test_size) - float(val_size), 1 - float(test_size)
    return f"""
WITH bounds AS (
  SELECT quantile_cont(epoch_us({VISIT_DATE}), {double(valid_from)}) AS valid_from,
         quantile_cont(epoch_us({VISIT_DATE}), {double(test_from)}) AS test_from FROM clean
), visits AS (
  SELECT {PATIENT_ID}, CASE WHEN epoch_us({VISIT_DATE}) >= test_from THEN 2
                            WHEN epoch_us({VISIT_DATE}) >= valid_from THEN 1 ELSE 0 END AS period
  FROM clean CROSS JOIN bounds
)
SELECT {PATIENT_ID}, CASE max(period) WHEN 2 THEN 'test' WHEN 1 THEN 'valid' ELSE 'train' END AS part
FROM visits GROUP BY {PATIENT_ID}
"""


def patient_parts_sql(contract: Contract, settings: dict, seed: int, holdout: set[str]) -> str:
    """The split's patient -> part query for `split.method` (stratified or temporal) under a contract."""
    if settings["method"] == "temporal" and not contract.spec.context.visit_date:
        raise TrainingDataError("split.method 'temporal' needs a visit date: the contract declares none "
                                "(context.visit_date)")
    return patient_parts_for(contract.classes, settings, seed, holdout)


def patient_parts_for(classes: tuple[str, ...], settings: dict, seed: int, holdout: set[str]) -> str:
    if settings["method"] == "stratified":
        return patient_parts_query(classes, holdout, seed, settings["test_size"], settings["val_size"])
    if settings["method"] != "temporal":
        raise TrainingDataError(f"split.method must be 'stratified' or 'temporal', got {settings['method']!r}")
    temporal = temporal_parts_query(settings["test_size"], settings["val_size"])
    if not holdout:
        return temporal
    return (f"WITH temporal AS ({temporal}), held AS (SELECT DISTINCT {PATIENT_ID} FROM clean WHERE "
            f"{held_out(holdout)}) SELECT temporal.{PATIENT_ID}, CASE WHEN held.{PATIENT_ID} IS NULL THEN "
            f"temporal.part ELSE 'test' END AS part FROM temporal LEFT JOIN held ON "
            f"temporal.{PATIENT_ID} = held.{PATIENT_ID}")


ASSIGNED = (f"SELECT clean.*, patient_parts.part AS part FROM clean JOIN patient_parts "
            f"ON clean.{PATIENT_ID} = patient_parts.{PATIENT_ID}")


def parts_profile_query(contract: Contract, holdout: set[str]) -> str:
    """One row per part (over the table `assigned`): rows, patients, cases per class, held-out cases, and per
    feature the rows that record it and its smallest and largest value (the training-data checks and
    reports/split.json). One pass for all parts; min = max marks a feature with one value (a distinct count per
    column would cost Spark a pass each)."""
    cells = ["part", 'count(*) AS "rows"', f'count(DISTINCT {PATIENT_ID}) AS "patients"',
             *(f"sum(CASE WHEN {LABEL_COLUMN} = {quoted(name)} THEN 1 ELSE 0 END) AS {quoted_name('n_' + name)}"
               for name in contract.classes),
             f"sum(CASE WHEN {held_out(holdout)} THEN 1 ELSE 0 END) AS n_unseen_orphan"]
    for name in contract.feature_names:
        column = quoted_name(name)
        cells += [f"count({column}) AS {quoted_name('present_' + name)}",
                  f"CAST(min({column}) AS VARCHAR) AS {quoted_name('first_' + name)}",
                  f"CAST(max({column}) AS VARCHAR) AS {quoted_name('last_' + name)}"]
    return f"SELECT {', '.join(cells)} FROM assigned GROUP BY part"


def empty_part_profile(contract: Contract) -> dict:
    """The profile of a part no patient went to."""
    return {"rows": 0, "patients": 0, "n_unseen_orphan": 0, **{f"n_{name}": 0 for name in contract.classes},
            **{f"present_{name}": 0 for name in contract.feature_names}}


def quoted_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def part_query(columns: list[str], part: str) -> str:
    """The clean rows of one part (over the table `assigned`), in the canonical order."""
    return (f"SELECT {listed([*columns, RECORD_ID, RECORD_ORDER])} FROM assigned WHERE part = {quoted(part)} "
            f"ORDER BY {RECORD_ORDER}")


SPARK_FUNCTIONS = {"PERCENTILE_CONT(": "PERCENTILE(", "EPOCH_US(": "UNIX_MICROS("}  # what sqlglot leaves as is


@cache
def for_engine(sql: str, engine: str) -> str:
    """The query in the executor's dialect (written in DuckDB's; Spark's by sqlglot, and the two aggregate
    functions it does not map: an exact linear-interpolation percentile, microseconds since the epoch)."""
    if engine == "local":
        return sql
    spark = sqlglot.transpile(sql, read="duckdb", write=DIALECTS[engine])[0]
    for duckdb_name, spark_name in SPARK_FUNCTIONS.items():
        spark = spark.replace(duckdb_name, spark_name)
    return spark

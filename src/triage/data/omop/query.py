"""The CDM extraction as one query, written once (in DuckDB's dialect) and rendered by sqlglot for the engine that
runs it: DuckDB (the embedded default), PostgreSQL, Spark SQL.

`index_visits` holds every index visit with the first population rule that excludes it (NULL: kept), so the
exclusions are counted and the kept visits are exactly the rest. `per_visit_table` selects, for each kept visit, the
person's age and gender, each feature's concept set in its window, and the outcome code; LEFT JOINs only, so a visit
whose person is missing keeps its row (with empty person fields, quarantined by ingest with the reason).
"""

from __future__ import annotations

import sqlglot

from triage.contract import Contract
from triage.contract.omop import (
    DOMAINS,
    NO_CODE,
    OUTCOME_VALUE,
    PERSON_ID,
    SITE,
    VISIT_DATE,
    VISIT_ID,
    ConceptSet,
    OmopSource,
    PersonAttribute,
)

DIALECTS = {"duckdb": "duckdb", "postgresql": "postgres", "spark": "spark"}


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def numbers(values: tuple[int, ...]) -> str:
    return ", ".join(str(int(v)) for v in values)


def shifted(day: str, days: int) -> str:
    return f"CAST({day} + INTERVAL '{int(days)}' DAY AS DATE)"


class CdmQuery:
    """The SQL of one contract's extraction, table names qualified by the CDM schema."""

    def __init__(self, contract: Contract) -> None:
        if contract.spec.source is None:
            raise ValueError(f"contract {contract.name} has no source.omop")
        self.contract, self.source = contract, contract.spec.source.omop

    @property
    def settings(self) -> OmopSource:
        return self.source

    def table(self, name: str) -> str:
        return f"{self.source.cdm_schema}.{name}" if self.source.cdm_schema else name

    def outcome_codes(self) -> str:
        """(prefix, class, priority, length) of every outcome code."""
        outcome, priority = self.contract.spec.outcome, self.source.outcome.priority
        rows = [f"({literal(outcome.normalise(code))}, {literal(name)}, "
                f"{priority.index(name) if name in priority else len(priority)}, {len(outcome.normalise(code))})"
                for name, codes in outcome.classes.items() for code in codes if code != NO_CODE]
        return f"(VALUES {', '.join(rows)}) AS codes(prefix, class, priority, length)"

    def code_match(self, column: str) -> str:
        value = f"UPPER(TRIM({column}))" if self.contract.spec.outcome.case == "upper" else f"TRIM({column})"
        if self.contract.spec.outcome.match == "exact":
            return f"{value} = codes.prefix"
        return f"SUBSTRING({value}, 1, codes.length) = codes.prefix"

    def coded_conditions(self) -> str:
        """Every condition whose source value is an outcome code, with the class of its longest matching code:
        matched once, then joined to the visits by person and day."""
        return f"""coded_conditions AS (SELECT person_id, day, record, code, class, priority FROM (
            SELECT c.person_id, CAST(c.condition_start_date AS DATE) AS day, c.condition_occurrence_id AS record,
                   c.condition_source_value AS code, codes.class, codes.priority,
                   ROW_NUMBER() OVER (PARTITION BY c.condition_occurrence_id ORDER BY codes.length DESC) AS longest
            FROM {self.table('condition_occurrence')} c JOIN {self.outcome_codes()}
              ON {self.code_match('c.condition_source_value')}) matched WHERE longest = 1)"""

    def rule_ctes(self) -> list[str]:
        """The facts the population rules test (`rule_facts`), one row per index visit that has them (joins, not
        correlated subqueries: PostgreSQL runs these as hash joins)."""
        population, ctes = self.source.population, []
        if "observed" in self.rule_facts():
            ctes.append(f"""observed AS (
                SELECT v.visit_occurrence_id, MIN(CAST(op.observation_period_start_date AS DATE)) AS since,
                       MAX(CAST(op.observation_period_end_date AS DATE)) AS until
                FROM index_candidates v JOIN {self.table('observation_period')} op ON op.person_id = v.person_id
                WHERE CAST(op.observation_period_start_date AS DATE) <= v.visit_start_date
                  AND CAST(op.observation_period_end_date AS DATE) >= v.visit_start_date
                GROUP BY v.visit_occurrence_id)""")
        if "prior_outcome" in self.rule_facts():
            since = shifted("v.visit_start_date", -population.prior_outcome_lookback)
            ctes.append(f"""prior_outcome AS (
                SELECT DISTINCT v.visit_occurrence_id FROM index_candidates v
                JOIN coded_conditions c ON c.person_id = v.person_id
                WHERE c.class = 'orphan' AND c.day < v.visit_start_date AND c.day >= {since})""")
        return ctes

    def rule_facts(self) -> list[str]:
        """The facts the rules need, by CTE name: the observation period holding the visit, a prior orphan code."""
        population = self.source.population
        return [name for name, needed in (("observed", population.washout_period or population.require_time_at_risk),
                                          ("prior_outcome", self.prior_outcome_rule())) if needed]

    def prior_outcome_rule(self) -> bool:
        return self.source.population.remove_subjects_with_prior_outcome and self.contract.has_orphan

    def exclusion(self) -> str:
        """The first population rule that removes the visit (NULL when none does), in PatientLevelPrediction's
        order."""
        rules, population = [], self.source.population
        if population.first_exposure_only:
            rules.append(("first_exposure_only", "v.visit_rank > 1"))
        if population.washout_period:
            earliest = shifted("v.visit_start_date", -population.washout_period)
            rules.append(("washout_period", f"observed.since IS NULL OR observed.since > {earliest}"))
        if self.prior_outcome_rule():
            rules.append(("remove_subjects_with_prior_outcome", "prior_outcome.visit_occurrence_id IS NOT NULL"))
        if population.require_time_at_risk:
            latest = shifted("v.visit_start_date", population.min_time_at_risk)
            rules.append(("require_time_at_risk", f"observed.until IS NULL OR observed.until < {latest}"))
        if not rules:
            return "CAST(NULL AS VARCHAR)"
        return "CASE " + " ".join(f"WHEN {test} THEN {literal(name)}" for name, test in rules) + " END"

    def index_visits(self) -> str:
        index = self.source.index_visits
        day = "CAST(visit_start_date AS DATE)"
        period = "".join([f" AND {day} >= DATE '{index.study_start}'" if index.study_start else "",
                          f" AND {day} <= DATE '{index.study_end}'" if index.study_end else ""])
        site = "CAST(care_site_id AS VARCHAR)" if self.source.site == "care_site" else literal(self.source.site)
        joins = "".join(f" LEFT JOIN {name} ON {name}.visit_occurrence_id = v.visit_occurrence_id"
                        for name in self.rule_facts())
        return ", ".join([f"""index_candidates AS (
            SELECT visit_occurrence_id, person_id, CAST(visit_start_date AS DATE) AS visit_start_date, {site} AS site,
                   ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY visit_start_date, visit_occurrence_id)
                     AS visit_rank
            FROM {self.table('visit_occurrence')}
            WHERE visit_concept_id IN ({numbers(index.visit_concepts)}){period})""", self.coded_conditions(),
            *self.rule_ctes(), f"""index_visits AS (
            SELECT v.visit_occurrence_id, v.person_id, v.visit_start_date, v.site, {self.exclusion()} AS excluded_by
            FROM index_candidates v{joins})"""])

    def concept_match(self, concepts: ConceptSet, alias: str) -> str:
        _, concept_column, _, source_column, _ = DOMAINS[concepts.domain]
        tests = []
        if concepts.concepts:
            wanted = numbers(concepts.concepts)
            if concepts.descendants:
                wanted = (f"SELECT descendant_concept_id FROM {self.table('concept_ancestor')} "
                          f"WHERE ancestor_concept_id IN ({wanted})")
            tests.append(f"{alias}.{concept_column} IN ({wanted})")
        for prefix in concepts.source_prefixes:
            tests.append(f"SUBSTRING(UPPER(TRIM({alias}.{source_column})), 1, {len(prefix)}) = "
                         f"{literal(prefix.strip().upper())}")
        return "(" + " OR ".join(tests) + ")"

    def feature_cte(self, name: str, concepts: ConceptSet) -> str:
        """The visits with a record of the set in the window: for a numeric feature, the most recent value (the
        latest day, then the highest record id)."""
        table, _, day_column, _, record = DOMAINS[concepts.domain]
        day = f"CAST(d.{day_column} AS DATE)"
        window = concepts.window
        where = (f"{self.concept_match(concepts, 'd')} AND {day} >= {shifted('v.visit_start_date', window.start_days)}"
                 f" AND {day} <= {shifted('v.visit_start_date', window.end_days)}")
        if self.contract.features[name].type == "binary":
            return (f"f_{name} AS (SELECT DISTINCT v.visit_occurrence_id FROM kept v JOIN {self.table(table)} d "
                    f"ON d.person_id = v.person_id WHERE {where})")
        units = f" AND d.unit_concept_id IN ({numbers(concepts.unit_concepts)})" if concepts.unit_concepts else ""
        return f"""f_{name} AS (SELECT visit_occurrence_id, value FROM (
            SELECT v.visit_occurrence_id, CAST(d.value_as_number AS DOUBLE) AS value,
                   ROW_NUMBER() OVER (PARTITION BY v.visit_occurrence_id ORDER BY {day} DESC, d.{record} DESC) AS rank
            FROM kept v JOIN {self.table(table)} d ON d.person_id = v.person_id
            WHERE {where} AND d.value_as_number IS NOT NULL{units}) ranked WHERE rank = 1)"""

    def outcome_cte(self) -> str:
        """The visit's outcome code: among the coded conditions in the window, the first class of
        outcome.priority, then the earliest day, then the lowest record id."""
        window = self.source.outcome
        return f"""outcome AS (SELECT visit_occurrence_id, code FROM (
            SELECT v.visit_occurrence_id, c.code,
                   ROW_NUMBER() OVER (PARTITION BY v.visit_occurrence_id ORDER BY c.priority, c.day, c.record) AS rank
            FROM kept v JOIN coded_conditions c ON c.person_id = v.person_id
            WHERE c.day >= {shifted('v.visit_start_date', window.start_days)}
              AND c.day <= {shifted('v.visit_start_date', window.end_days)}) ranked WHERE rank = 1)"""

    def feature_value(self, name: str) -> str:
        source = self.contract.features[name].omop
        if isinstance(source, PersonAttribute):
            return self.age() if source.person == "age" else "CAST(p.gender_concept_id AS VARCHAR)"
        if self.contract.features[name].type == "binary":
            return f"CASE WHEN f_{name}.visit_occurrence_id IS NULL THEN 0 ELSE 1 END"
        return f"f_{name}.value"

    def outcome_value(self) -> str:
        code = "CAST(outcome.code AS VARCHAR)"
        return f"COALESCE({code}, {literal(NO_CODE)})" if self.source.outcome.without_code else code

    @staticmethod
    def age() -> str:
        """Completed years at the visit: the year difference, less one before the birthday when the month (and day)
        of birth are recorded (PatientLevelPrediction's year difference when they are not)."""
        month, day = "EXTRACT(MONTH FROM v.visit_start_date)", "EXTRACT(DAY FROM v.visit_start_date)"
        before_birthday = (f"p.month_of_birth IS NOT NULL AND ({month} < p.month_of_birth OR ({month} = "
                           f"p.month_of_birth AND {day} < COALESCE(p.day_of_birth, 1)))")
        return (f"CAST(EXTRACT(YEAR FROM v.visit_start_date) AS INTEGER) - p.year_of_birth "
                f"- CASE WHEN {before_birthday} THEN 1 ELSE 0 END")

    def measured(self) -> set[str]:
        """The features whose values are numbers read from the CDM (DOUBLE: each engine writes a double as text its
        own way, 3.0 or 3, so the extraction writes them as text itself)."""
        return {name for name in self.concept_features() if self.contract.features[name].type != "binary"}

    def concept_features(self) -> dict[str, ConceptSet]:
        return {name: feature.omop for name, feature in self.contract.features.items()
                if isinstance(feature.omop, ConceptSet)}

    def per_visit_table(self) -> str:
        features = self.concept_features()
        ctes = [self.index_visits(), "kept AS (SELECT * FROM index_visits WHERE excluded_by IS NULL)",
                *(self.feature_cte(name, concepts) for name, concepts in features.items()), self.outcome_cte()]
        joins = "".join(f" LEFT JOIN f_{name} ON f_{name}.visit_occurrence_id = v.visit_occurrence_id"
                        for name in features)
        columns = ", ".join(f"{self.feature_value(name)} AS {name}" if name in self.measured()
                            else f"CAST({self.feature_value(name)} AS VARCHAR) AS {name}"
                            for name in self.contract.features)
        return f"""WITH {', '.join(ctes)}
            SELECT CAST(v.person_id AS VARCHAR) AS {PERSON_ID}, CAST(v.visit_occurrence_id AS VARCHAR) AS {VISIT_ID},
                   CAST(v.visit_start_date AS VARCHAR) AS {VISIT_DATE}, v.site AS {SITE}, {columns},
                   {self.outcome_value()} AS {OUTCOME_VALUE}
            FROM kept v LEFT JOIN {self.table('person')} p ON p.person_id = v.person_id{joins}
            LEFT JOIN outcome ON outcome.visit_occurrence_id = v.visit_occurrence_id
            ORDER BY v.visit_occurrence_id"""

    def exclusions(self) -> str:
        return (f"WITH {self.index_visits()} SELECT excluded_by, COUNT(*) AS visits FROM index_visits "
                "GROUP BY excluded_by ORDER BY excluded_by")

    def matches(self, name: str) -> str:
        """How many records of the feature's concept set the CDM holds (any date): 0 is a concept set that matches
        nothing."""
        concepts = self.concept_features()[name]
        table = DOMAINS[concepts.domain][0]
        return f"SELECT COUNT(*) AS records FROM {self.table(table)} d WHERE {self.concept_match(concepts, 'd')}"


def render(sql: str, engine: str) -> str:
    """The query in the engine's dialect (duckdb, postgresql, spark)."""
    return sqlglot.transpile(sql, read="duckdb", write=DIALECTS[engine])[0]

"""Which extracts are new, awaiting landing, landed or refused: read from the intake's records in the bucket.

An extract version (object key + ETag) is *done* once its folder under monitoring/intake/extracts/ holds a terminal
marker (landed.json or rejected.json); *awaiting landing* when its accounting says accepted and it has no terminal
marker yet; *new* otherwise (never seen, or a check that stopped half-way): so a re-run never processes an extract
twice, and an interrupted one is finished by the next run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from triage.intake import IntakeError
from triage.intake.bucket import IntakeBucket
from triage.intake.layout import ACCOUNTING, EXTRACTS, RAW, TERMINAL, ExtractObject, extract_object, record_of

ACCEPTED = "accepted"
REJECTED = "rejected"
LANDED = "landed"


@dataclass
class Listing:
    new: list[ExtractObject] = field(default_factory=list)
    awaiting_landing: list[ExtractObject] = field(default_factory=list)
    done: int = 0
    ignored: list[str] = field(default_factory=list)  # keys that cannot be extracts, with the rule

    def summary(self) -> dict:
        return {"new": [e.uid for e in self.new], "awaiting_landing": [e.uid for e in self.awaiting_landing],
                "already_done": self.done, "ignored": self.ignored}


def record_files(bucket: IntakeBucket) -> dict[tuple[str, str, str], set[str]]:
    """(site, name, etag) -> the record files present for that extract version."""
    files: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for item in bucket.objects(EXTRACTS):
        parsed = record_of(item["Key"])
        if parsed is not None:
            site, name, etag, file = parsed
            files[(site, name, etag)].add(file)
    return files


def raw_extracts(bucket: IntakeBucket) -> tuple[list[ExtractObject], list[str]]:
    extracts, ignored = [], []
    for item in bucket.objects(RAW):
        try:
            extract = extract_object(item["Key"], item["ETag"], item["Size"])
        except IntakeError as error:
            ignored.append(str(error))
            continue
        if extract is not None:
            extracts.append(extract)
    return sorted(extracts, key=lambda e: e.key), ignored


def status_of(bucket: IntakeBucket, extract: ExtractObject, files: set[str]) -> str | None:
    """landed / rejected (terminal), accepted (awaiting landing), or None (to check)."""
    for marker, status in zip(TERMINAL, (LANDED, REJECTED), strict=True):
        if marker in files:
            return status
    if ACCOUNTING in files:
        accounting = bucket.get_json(extract.record_key(ACCOUNTING)) or {}
        if accounting.get("status") == ACCEPTED:
            return ACCEPTED
    return None


def list_extracts(bucket: IntakeBucket) -> Listing:
    """The raw/ extracts sorted into new / awaiting landing / done."""
    extracts, ignored = raw_extracts(bucket)
    files = record_files(bucket)
    listing = Listing(ignored=ignored)
    for extract in extracts:
        status = status_of(bucket, extract, files.get((extract.site, extract.name, extract.etag), set()))
        if status is None:
            listing.new.append(extract)
        elif status == ACCEPTED:
            listing.awaiting_landing.append(extract)
        else:
            listing.done += 1
    return listing


def awaiting_landing(bucket: IntakeBucket) -> list[tuple[ExtractObject, dict]]:
    """Accepted extract versions with no terminal marker, with their accounting (the raw object must still be
    there: landing copies it)."""
    extracts, _ = raw_extracts(bucket)
    files = record_files(bucket)
    found = []
    for extract in extracts:
        present = files.get((extract.site, extract.name, extract.etag), set())
        if ACCOUNTING in present and not present.intersection(TERMINAL):
            accounting = bucket.get_json(extract.record_key(ACCOUNTING)) or {}
            if accounting.get("status") == ACCEPTED:
                found.append((extract, accounting))
    return found

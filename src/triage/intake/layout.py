"""The bucket layout of the intake and the names of things (standard library only).

```
raw/<site>/<name>                                  an extract as a site drops it (CSV or Parquet; <name> may hold '/')
raw/rejected/<site>/<name>                         a refused extract, moved here ...
raw/rejected/<site>/<name>.reason.json             ... with the reason
monitoring/intake/extracts/<site>/<name>/<etag>/   one folder per extract version (object key + ETag):
    accounting.json                                rows in / clean / quarantined / duplicates, reasons by rule, verdict
    quarantine.csv                                 the quarantined rows with their reasons (pseudonymised)
    landed.json | rejected.json                    the terminal marker: landed in the working clone, or refused
monitoring/intake/runs/<run id>.json               what one DAG run found, landed and decided (retrain or why not)
monitoring/intake/latest-run.json                  a copy of the latest run's record
```
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath

from triage.intake import IntakeError
from triage_shared.bucket import INTAKE, RAW

REJECTED_SITE = "rejected"  # reserved: raw/rejected/ is where refused extracts go, never a site
EXTRACTS = INTAKE + "extracts/"
RUNS = INTAKE + "runs/"
LATEST_RUN = INTAKE + "latest-run.json"
SUFFIXES = (".csv", ".parquet")

ACCOUNTING = "accounting.json"
QUARANTINE = "quarantine.csv"
LANDED = "landed.json"
REJECTED = "rejected.json"
TERMINAL = (LANDED, REJECTED)

SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ETAG = re.compile(r"^[0-9A-Za-z-]{1,80}$")


@dataclass(frozen=True)
class ExtractObject:
    """One version of one extract in the bucket: its key and ETag identify it."""

    key: str
    etag: str
    size: int
    site: str
    name: str  # the key under raw/<site>/

    @property
    def uid(self) -> str:
        return f"{self.key}@{self.etag}"

    def uri(self, bucket: str) -> str:
        return f"s3://{bucket}/{self.key}"

    def record_key(self, file: str) -> str:
        """The intake's record `file` (accounting.json, quarantine.csv, landed.json...) of this extract version."""
        return f"{EXTRACTS}{self.site}/{self.name}/{self.etag}/{file}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExtractObject:
        return cls(**{name: data[name] for name in ("key", "etag", "size", "site", "name")})


def clean_etag(etag: str, key: str) -> str:
    value = etag.strip().strip('"')
    if not ETAG.match(value):
        raise IntakeError(f"s3 object {key}: unexpected ETag {etag!r} (rule: hex digits, optionally -<parts>)")
    return value


def extract_object(key: str, etag: str, size: int) -> ExtractObject | None:
    """The extract a raw/ key names; None for what is not an extract (another suffix, a hidden or `_` file, a folder
    marker, anything under raw/rejected/). A key that looks like an extract but cannot be one is an IntakeError
    naming the key and the rule."""
    if not key.startswith(RAW) or key.endswith("/"):
        return None
    parts = key[len(RAW):].split("/")
    if len(parts) < 2 or parts[0] == REJECTED_SITE:
        return None
    site, name_parts = parts[0], parts[1:]
    leaf = name_parts[-1]
    if PurePosixPath(leaf).suffix.lower() not in SUFFIXES or leaf.startswith(("_", ".")):
        return None
    if not SITE_NAME.match(site):
        raise IntakeError(f"s3 object {key}: site folder {site!r} is not a plain name (rule: letters, digits, "
                          "'_', '.', '-', at most 64, starting with a letter or digit)")
    bad = [part for part in name_parts if part in ("", ".", "..") or any(ord(c) < 32 for c in part)]
    if bad:
        raise IntakeError(f"s3 object {key}: path part {bad[0]!r} is not allowed in an extract's name "
                          "(rule: no empty, '.' or '..' parts, no control characters)")
    return ExtractObject(key=key, etag=clean_etag(etag, key), size=int(size), site=site, name="/".join(name_parts))


def record_of(key: str) -> tuple[str, str, str, str] | None:
    """(site, name, etag, file) of a key under monitoring/intake/extracts/; None for any other key."""
    if not key.startswith(EXTRACTS):
        return None
    parts = key[len(EXTRACTS):].split("/")
    if len(parts) < 4:
        return None
    return parts[0], "/".join(parts[1:-2]), parts[-2], parts[-1]


def versioned_name(name: str, etag: str) -> str:
    """`dir/extract.csv` -> `dir/extract.<etag[:12]>.csv`: the name of a second version of an extract whose first
    version is already there (extracts are never overwritten)."""
    path = PurePosixPath(name)
    return str(path.with_name(f"{path.stem}.{etag[:12]}{path.suffix}"))


def rejected_key(extract: ExtractObject) -> str:
    return f"{RAW}{REJECTED_SITE}/{extract.site}/{extract.name}"


def run_key(run_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", run_id)
    return f"{RUNS}{safe}.json"

"""The catalog as Python reads it: the dbt manifest's hub models, their contracts and meta.

The yml beside each hub model is the single source; this module only derives from it (the
landing contract, file names, required columns) so that the loader, the generator's checks
and the documentation agree with dbt without restating anything.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hubs.settings import DBT_PROJECT_DIR

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
# Set by the platform, never landed.
SYSTEM_COLUMNS = frozenset({"created_at", "updated_at"})
_REF = re.compile(r"ref\(\s*['\"](\w+)['\"]\s*\)")
_FK_EXPRESSION = re.compile(r"\s*([\w\".]+)\s*\(([^)]*)\)\s*$")


class CatalogError(RuntimeError):
    """The dbt project could not be read."""


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    description: str
    constraints: tuple[dict[str, Any], ...]
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def computed(self) -> bool:
        return bool(self.meta.get("expression"))

    @property
    def has_default(self) -> bool:
        return self.meta.get("default") is not None

    def has_constraint(self, kind: str) -> bool:
        return any(c.get("type") == kind for c in self.constraints)


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    parent_model: str
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class Entity:
    """One hub table: hub3_origin.tractors is entity 'tractor' of model 'tractors'."""

    name: str
    model: str
    schema: str
    table: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...]
    meta: dict[str, Any] = field(compare=False, hash=False)
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def landing_table(self) -> str:
        return f"{self.schema}__{self.table}"

    @property
    def history(self) -> str:
        return self.meta.get("history", "none")

    @cached_property
    def landed_columns(self) -> tuple[Column, ...]:
        """The landing contract: what a file for this entity may carry."""
        return tuple(
            c
            for c in self.columns
            if c.name not in SYSTEM_COLUMNS
            and not c.name.startswith("_")
            and not c.computed
            and not (self.history == "scd2" and c.name == "valid_to")
        )

    @cached_property
    def required_columns(self) -> tuple[str, ...]:
        """Columns a file must have: the key and every NOT NULL column without a default."""
        required = list(self.primary_key)
        for col in self.landed_columns:
            if col.name in required or col.has_default:
                continue
            if self.history == "scd2" and col.name == "valid_from":
                continue  # defaults to the load time
            if col.has_constraint("not_null"):
                required.append(col.name)
        return tuple(required)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.qualified_name} has no column {name}")


@dataclass(frozen=True)
class Catalog:
    entities: tuple[Entity, ...]

    def by_file_stem(self, stem: str) -> Entity | None:
        """'hub3_origin.tractors' -> the tractor entity."""
        for entity in self.entities:
            if entity.qualified_name == stem:
                return entity
        return None

    def by_model(self, model: str) -> Entity:
        for entity in self.entities:
            if entity.model == model:
                return entity
        raise KeyError(f"no hub model {model}")

    @property
    def schemas(self) -> list[str]:
        return sorted({e.schema for e in self.entities})


def _newest_source_mtime() -> float:
    newest = (DBT_PROJECT_DIR / "dbt_project.yml").stat().st_mtime
    for folder in ("models", "macros", "tests"):
        for path in (DBT_PROJECT_DIR / folder).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    return newest


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    found = str(beside) if beside.exists() else shutil.which("dbt")
    if not found:
        raise CatalogError("dbt is not installed in this environment (pip install -e .)")
    return found


def ensure_manifest() -> Path:
    """Parse the dbt project when its manifest is missing or older than its sources."""
    if MANIFEST.exists() and MANIFEST.stat().st_mtime >= _newest_source_mtime():
        return MANIFEST
    result = subprocess.run(
        # --target-path: the manifest goes where it is read, whatever DBT_TARGET_PATH says.
        [
            dbt_executable(),
            "parse",
            "--quiet",
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(MANIFEST.parent),
        ],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not MANIFEST.exists():
        raise CatalogError(f"dbt parse failed:\n{result.stdout}\n{result.stderr}".strip())
    return MANIFEST


class _ParentNames(dict):
    """FK target -> model name, for both "ref('x')" (parsed) and '"db"."s"."t"' (compiled)."""

    def __init__(self, models: list[dict[str, Any]]) -> None:
        super().__init__()
        self.by_relation = {(m["schema"], m.get("alias") or m["name"]): m["name"] for m in models}

    def target(self, constraint: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        """(parent model, parent columns) of an FK given as to/to_columns or as an expression
        "schema.table (columns)" (how self references are written)."""
        if constraint.get("to"):
            return self[constraint["to"]], tuple(constraint["to_columns"])
        match = _FK_EXPRESSION.match(constraint.get("expression") or "")
        if not match:
            raise CatalogError(f"cannot read foreign key {constraint}")
        return self[match.group(1)], tuple(c.strip() for c in match.group(2).split(","))

    def __missing__(self, to: str) -> str:
        match = _REF.search(to)
        if match:
            return match.group(1)
        parts = to.replace('"', "").split(".")
        try:
            return self.by_relation[(parts[-2], parts[-1])]
        except (KeyError, IndexError):
            raise CatalogError(f"cannot tell which model the foreign key target {to} is") from None


def _entity(node: dict[str, Any], parents: _ParentNames) -> Entity:
    columns = tuple(
        Column(
            name=c["name"],
            data_type=c.get("data_type") or "text",
            description=c.get("description", ""),
            constraints=tuple(c.get("constraints", [])),
            meta=c.get("meta", {}),
        )
        for c in node["columns"].values()
    )
    key: tuple[str, ...] = ()
    for c in node.get("constraints", []):
        if c["type"] == "primary_key":
            key = tuple(c["columns"])
    for col in columns:
        if col.has_constraint("primary_key"):
            key = (col.name,)
    fks = [
        ForeignKey((col.name,), *parents.target(c))
        for col in columns
        for c in col.constraints
        if c.get("type") == "foreign_key"
    ]
    fks += [
        ForeignKey(tuple(c["columns"]), *parents.target(c))
        for c in node.get("constraints", [])
        if c["type"] == "foreign_key"
    ]
    hubs_meta = node["config"]["meta"]["hubs"]
    return Entity(
        name=hubs_meta["entity"],
        model=node["name"],
        schema=node["schema"],
        table=node.get("alias") or node["name"],
        description=node.get("description", ""),
        columns=columns,
        primary_key=key,
        foreign_keys=tuple(fks),
        meta=hubs_meta,
        indexes=tuple(tuple(i["columns"]) for i in node["config"].get("indexes") or []),
    )


def load_catalog(manifest_path: Path | None = None) -> Catalog:
    manifest = json.loads((manifest_path or ensure_manifest()).read_text())
    nodes = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["config"].get("meta", {}).get("hubs", {}).get("entity")
    ]
    parents = _ParentNames([n for n in manifest["nodes"].values() if n["resource_type"] == "model"])
    return Catalog(tuple(sorted((_entity(n, parents) for n in nodes), key=lambda e: e.qualified_name)))

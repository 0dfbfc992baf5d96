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
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from hubs.catalog_meta import (
    CacheEntry,
    MetaProblems,
    ModelFacts,
    Navigation,
    Relationship,
    VectorSpec,
    read_meta,
    read_navigation,
)
from hubs.settings import DBT_PROJECT_DIR

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
# Set by the platform, never landed.
SYSTEM_COLUMNS = frozenset({"created_at", "updated_at"})
# A foreign key's target as the yml writes it: ref('tractors'). (hubs/scaffold.py reads the yml too.)
REF = re.compile(r"ref\(\s*['\"](\w+)['\"]\s*\)")
_FK_EXPRESSION = re.compile(r"\s*([\w\".]+)\s*\(([^)]*)\)\s*$")


class CatalogError(RuntimeError):
    """The dbt project could not be read, or its hub models' contracts and meta are inconsistent."""


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
    #: the typed meta.hubs (catalog_meta.py), filled in once every model's label is known
    label: str = ""
    relationships: tuple[Relationship, ...] = ()
    cache: tuple[CacheEntry, ...] = ()
    vectors: VectorSpec | None = None
    timeline_facts: tuple[str, ...] = ()
    #: named paths from this entity's rows (meta.hubs.navigations), resolved over the whole catalog
    navigations: tuple[Navigation, ...] = ()
    #: the yml declaring the model (named in the loader's messages)
    yml: str = field(default="", compare=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def landing_table(self) -> str:
        return f"{self.schema}__{self.table}"

    @property
    def history(self) -> str:
        return self.meta.get("history", "none")

    @property
    def temporal(self) -> bool:
        return self.history in ("scd2", "interval")

    @property
    def projection(self) -> Relationship | None:
        """The first relationship the row itself is (an edge between two of its foreign keys'
        targets, e.g. DROVE): the timeline and the as-of checks draw the row as it."""
        return next((r for r in self.relationships if r.form == "edge"), None)

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
    def navigations(self) -> dict[str, Navigation]:
        """Every entity's navigations by name (names are unique across the catalog)."""
        return {n.name: n for e in self.entities for n in e.navigations}

    @property
    def schemas(self) -> list[str]:
        return sorted({e.schema for e in self.entities})


def _newest_source_mtime() -> float:
    newest = max((DBT_PROJECT_DIR / name).stat().st_mtime for name in ("dbt_project.yml", "selectors.yml"))
    for folder in ("models", "macros", "tests", "seeds"):
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
        match = REF.search(to)
        if match:
            return match.group(1)
        parts = to.replace('"', "").split(".")
        try:
            return self.by_relation[(parts[-2], parts[-1])]
        except (KeyError, IndexError):
            raise CatalogError(f"cannot tell which model the foreign key target {to} is") from None


def yml_of(node: dict[str, Any]) -> str:
    """The file declaring a model ('dbt_project/models/hubs/hub3_origin/_hub3_origin__models.yml')."""
    path = (node.get("patch_path") or node["original_file_path"]).split("://", 1)[-1]
    return f"{DBT_PROJECT_DIR.name}/{path}"


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
        yml=yml_of(node),
    )


def load_catalog(manifest_path: Path | None = None) -> Catalog:
    """The hub models of the dbt manifest, typed and checked: a CatalogError lists every
    inconsistency, each naming its yml, model and key."""
    manifest = json.loads((manifest_path or ensure_manifest()).read_text())
    nodes = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["config"].get("meta", {}).get("hubs", {}).get("entity")
    ]
    parents = _ParentNames([n for n in manifest["nodes"].values() if n["resource_type"] == "model"])
    entities = sorted((_entity(n, parents) for n in nodes), key=lambda e: e.qualified_name)
    return typed_catalog(entities, [p for n in nodes for p in _contract_problems(n)])


def typed_catalog(entities: list[Entity], problems: list[str] | None = None) -> Catalog:
    """The entities with their meta.hubs typed and checked; a CatalogError names every problem
    (with those already found in `problems`)."""
    problems = list(problems or [])
    labels = {e.model: e.meta.get("label") or "" for e in entities}
    typed = [_typed(entity, labels, problems) for entity in entities]
    problems += _catalog_problems(typed)
    if not problems:  # a path is resolved over relationships that all read right
        typed = _with_navigations(typed, problems)
    if problems:
        raise CatalogError(
            f"the hub catalog in {DBT_PROJECT_DIR} has {len(problems)} problem(s):\n  " + "\n  ".join(problems)
        )
    return Catalog(tuple(typed))


# Every hub table carries these; the engine and the checks read them.
TECHNICAL_COLUMNS = ("created_at", "updated_at", "_landing_seq", "_row_hash")


def _contract_problems(node: dict[str, Any]) -> list[str]:
    """A hub model's contract: enforced, described, typed, with the platform's technical columns."""
    where = f"{yml_of(node)}, model {node['name']}"
    problems = []
    if not node["config"].get("contract", {}).get("enforced"):
        problems.append(f"{where}: config.contract.enforced must be true")
    if not node.get("description", "").strip():
        problems.append(f"{where}: description is missing")
    for name, column in node["columns"].items():
        if not column.get("data_type") or not column.get("description", "").strip():
            problems.append(f"{where}: column {name} needs a data_type and a description")
    missing = [c for c in TECHNICAL_COLUMNS if c not in node["columns"]]
    if missing:
        problems.append(f"{where}: technical column(s) {', '.join(missing)} missing")
    return problems


def _typed(entity: Entity, labels: dict[str, str], problems: list[str]) -> Entity:
    facts = ModelFacts(
        model=entity.model,
        entity=entity.name,
        history=entity.history,
        columns=frozenset(c.name for c in entity.columns),
        primary_key=entity.primary_key,
        foreign_keys={fk.columns: fk.parent_model for fk in entity.foreign_keys},
        labels=labels,
    )
    found = MetaProblems()
    meta = read_meta(entity.meta, facts, found)
    problems += [f"{entity.yml}, model {entity.model}: {p}" for p in found]
    return replace(
        entity,
        label=meta.label,
        relationships=meta.relationships,
        cache=meta.cache,
        vectors=meta.vectors,
        timeline_facts=meta.facts,
    )


def _with_navigations(entities: list[Entity], problems: list[str]) -> list[Entity]:
    """The entities with their meta.hubs.navigations resolved; what is wrong goes to `problems`."""
    models = {e.model: e for e in entities}
    typed = []
    for entity in entities:
        found = MetaProblems()
        navigations = tuple(
            nav
            for i, raw in enumerate(entity.meta.get("navigations") or [])
            if (nav := read_navigation(raw, entity, models, f"meta.hubs.navigations[{i}]", found)) is not None
        )
        problems += [f"{entity.yml}, model {entity.model}: {p}" for p in found]
        typed.append(replace(entity, navigations=navigations))
    names = Counter(n.name for e in typed for n in e.navigations)
    problems += [f"navigation {name!r} is declared twice" for name, n in names.items() if n > 1]
    return typed


def _catalog_problems(entities: list[Entity]) -> list[str]:
    """What no single model can get wrong alone: unique names, and foreign keys onto entity keys."""
    problems = []
    for what, names in (
        ("entity", [e.name for e in entities]),
        ("table", [e.qualified_name for e in entities]),
        ("label", [e.label for e in entities]),
    ):
        problems += [f"{what} {name!r} is declared twice" for name, n in Counter(names).items() if n > 1]
    models = {e.model: e for e in entities}
    for entity in entities:
        where = f"{entity.yml}, model {entity.model}"
        if not entity.primary_key:
            problems.append(f"{where}: no primary key in the contract")
        for fk in entity.foreign_keys:
            parent = models.get(fk.parent_model)
            if parent is None:
                problems.append(f"{where}: foreign key ({', '.join(fk.columns)}) -> {fk.parent_model}, no hub entity")
            elif fk.parent_columns != parent.primary_key:
                problems.append(
                    f"{where}: foreign key ({', '.join(fk.columns)}) -> {fk.parent_model} "
                    f"({', '.join(fk.parent_columns)}) is not that entity's key ({', '.join(parent.primary_key)})"
                )
    return problems

"""What a hub model needs besides its own yml entry, written from that entry: the staging model,
its entry in the staging yml, the landing source table, the hub model's sql and, for SCD-2
entities, the history model.

The hub yml is read directly (PyYAML), not through the dbt manifest: dbt cannot parse the
project while the staging model a hub model refers to is missing. yml files are only ever
appended to, so their text (comments, anchors, layout) stays as it was written.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hubs.catalog import REF
from hubs.settings import DBT_PROJECT_DIR

MODELS_DIR = DBT_PROJECT_DIR / "models"
# A self reference is written "schema.table (columns)".
_FK_EXPRESSION = re.compile(r"\s*[\w\"]+\.\"?(\w+)\"?\s*\(")
STAGING_DESCRIPTION = (
    "Every row landed for {schema}.{table}, typed against its contract,"
    " with the rules it broke (rejects also go to quarantine.rows)."
)
LANDING_DESCRIPTION = "Rows landed from {schema}.{table}.csv|jsonl files, as received (text)."


class ScaffoldError(RuntimeError):
    """The hub yml does not say what to scaffold."""


@dataclass(frozen=True)
class HubModel:
    """A hub model as its yml entry declares it (hub3_origin.tractors: entity 'tractor')."""

    yml: Path
    schema: str
    model: str
    table: str
    entity: str
    history: str
    parents: tuple[str, ...]  # FK parent models other than itself, in the order they appear

    @property
    def staging_model(self) -> str:
        return f"stg_{self.schema}__{self.table}"

    @property
    def landing_table(self) -> str:
        return f"{self.schema}__{self.table}"


@dataclass(frozen=True)
class YmlEntry:
    """One list item of a yml file: `name` under the list at `where` (keys from the document root)."""

    name: str
    where: tuple[str | int, ...]
    text: str  # the item as appended, indented for its list
    header: str  # the file's text when it does not exist yet (a new hub)
    ignore: frozenset[str] = frozenset()  # keys a hand edit may change (a description)


@dataclass(frozen=True)
class Piece:
    """One thing the scaffold writes: a whole file (`entry` None) or an entry of a yml file."""

    path: Path
    text: str
    entry: YmlEntry | None = None


@dataclass(frozen=True)
class Outcome:
    piece: Piece
    state: str  # "ok" | "missing" | "out of date"


# -- reading the hub yml ---------------------------------------------------------------------


def hub_ymls(models_dir: Path = MODELS_DIR) -> list[Path]:
    return sorted((models_dir / "hubs").glob("*/*.yml"))


def _parent(constraint: dict[str, Any]) -> str | None:
    target = constraint.get("to") or ""
    match = REF.search(target) or _FK_EXPRESSION.match(constraint.get("expression") or "")
    return match.group(1) if match else (target.replace('"', "").split(".")[-1] or None)


def _parents(model: dict[str, Any]) -> tuple[str, ...]:
    """FK parents in the order the staging model lists them: column constraints, then the model's."""
    constraints = [c for col in model.get("columns") or [] for c in col.get("constraints") or []]
    constraints += model.get("constraints") or []
    found: list[str] = []
    for constraint in constraints:
        parent = _parent(constraint) if constraint.get("type") == "foreign_key" else None
        if parent and parent != model["name"] and parent not in found:
            found.append(parent)
    return tuple(found)


def _hubs_meta(model: dict[str, Any]) -> dict[str, Any]:
    return ((model.get("config") or {}).get("meta") or {}).get("hubs") or {}


def _models(yml: Path) -> list[dict[str, Any]]:
    try:
        document = yaml.safe_load(yml.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ScaffoldError(f"{yml}: not valid YAML: {exc}") from None
    return [m for m in document.get("models") or [] if isinstance(m, dict) and "name" in m]


def _hub_model(yml: Path, model: dict[str, Any]) -> HubModel:
    meta = _hubs_meta(model)
    return HubModel(
        yml=yml,
        schema=yml.parent.name,  # dbt_project.yml gives each folder under hubs/ its schema
        model=model["name"],
        table=(model.get("config") or {}).get("alias") or model["name"],
        entity=meta["entity"],
        history=meta.get("history", "none"),
        parents=_parents(model),
    )


def hub_models(models_dir: Path = MODELS_DIR) -> list[HubModel]:
    """Every hub model with meta.hubs.entity, hub by hub, in the order its yml lists them."""
    return [_hub_model(yml, m) for yml in hub_ymls(models_dir) for m in _models(yml) if _hubs_meta(m).get("entity")]


def find(name: str, models_dir: Path = MODELS_DIR) -> HubModel:
    """The hub model an entity name (`tire`), model name (`tires`) or `schema.table` names."""
    for yml in hub_ymls(models_dir):
        for model in _models(yml):
            meta = _hubs_meta(model)
            names = {model["name"], f"{yml.parent.name}.{model['name']}", meta.get("entity")}
            if name not in names:
                continue
            if not meta.get("entity"):
                raise ScaffoldError(
                    f"{yml}: model {model['name']} has no meta.hubs.entity (config: meta: hubs: entity: ...):"
                    " only hub models are scaffolded"
                )
            return _hub_model(yml, model)
    raise ScaffoldError(
        f"no hub model {name!r} (entity, model or schema.table) in {models_dir / 'hubs'}/*/*.yml:"
        " write its entry (with config: meta: hubs: entity:) there first"
    )


# -- what the existing files look like --------------------------------------------------------


def staging_sql(m: HubModel) -> str:
    depends = "".join(f"-- depends_on: {{{{ ref('{parent}') }}}}\n" for parent in m.parents)
    return f"{depends}{{{{ hubs_stage('{m.schema}', '{m.table}') }}}}\n"


def hub_sql(m: HubModel) -> str:
    return f"{{{{ hubs_current(ref('{m.staging_model}')) }}}}\n"


def history_sql(m: HubModel) -> str:
    return f"{{{{ hubs_history('{m.model}', ref('{m.staging_model}')) }}}}\n"


def staging_entry(m: HubModel) -> YmlEntry:
    description = STAGING_DESCRIPTION.format(schema=m.schema, table=m.table)
    return YmlEntry(
        name=m.staging_model,
        where=("models",),
        text=(f"  - name: {m.staging_model}\n    description: {description}\n    data_tests: [landing_reconciled]\n"),
        header="version: 2\n\nmodels:\n",
    )


def landing_entry(m: HubModel) -> YmlEntry:
    description = LANDING_DESCRIPTION.format(schema=m.schema, table=m.table)
    return YmlEntry(
        name=m.landing_table,
        where=("sources", 0, "tables"),
        text=f"      - name: {m.landing_table}\n        description: {description}\n",
        header="version: 2\n\nsources:\n  - name: landing\n    schema: landing\n    tables:\n",
    )


def history_entry(m: HubModel) -> YmlEntry:
    """The history model's entry in the hub yml; its description is the author's to improve."""
    return YmlEntry(
        name=f"{m.model}_history",
        where=("models",),
        text=(
            f"\n  - name: {m.model}_history\n"
            f"    description: Every version of every {m.entity.replace('_', ' ')}, valid_from to valid_to.\n"
            "    config:\n"
            "      materialized: incremental\n"
            "      incremental_strategy: hubs_replace_keys\n"
            "      contract: {enforced: false}\n"
            f"      meta: {{hubs: {{history_of: {m.model}}}}}\n"
            f"      post_hook: [\"{{{{ hubs_history_constraints('{m.model}') }}}}\"]\n"
        ),
        header="",
        ignore=frozenset({"description"}),
    )


def pieces(m: HubModel, models_dir: Path = MODELS_DIR) -> list[Piece]:
    """Everything the scaffold writes for one hub model."""
    staging = models_dir / "staging" / m.schema
    hub = m.yml.parent
    found = [
        Piece(staging / f"{m.staging_model}.sql", staging_sql(m)),
        Piece(staging / f"_stg_{m.schema}__models.yml", "", staging_entry(m)),
        Piece(models_dir / "landing" / f"_landing__{m.schema}.yml", "", landing_entry(m)),
        Piece(hub / f"{m.table}.sql", hub_sql(m)),
    ]
    if m.history == "scd2":
        found += [Piece(hub / f"{m.table}_history.sql", history_sql(m)), Piece(m.yml, "", history_entry(m))]
    return found


# -- comparing and writing ----------------------------------------------------------------------


def _items(document: Any, where: tuple[str | int, ...]) -> list[Any]:
    for step in where:
        try:
            document = document[step]
        except (KeyError, IndexError, TypeError):
            return []
    return document if isinstance(document, list) else []


def _entry_in(text: str, entry: YmlEntry) -> dict[str, Any] | None:
    for item in _items(yaml.safe_load(text), entry.where):
        if isinstance(item, dict) and item.get("name") == entry.name:
            return item
    return None


def _same_entry(held: dict[str, Any], entry: YmlEntry) -> bool:
    (wanted,) = yaml.safe_load(textwrap.dedent(entry.text))
    return {k: v for k, v in held.items() if k not in entry.ignore} == {
        k: v for k, v in wanted.items() if k not in entry.ignore
    }


def state(piece: Piece) -> str:
    if piece.entry is None:
        if not piece.path.exists():
            return "missing"
        return "ok" if piece.path.read_text() == piece.text else "out of date"
    if not piece.path.exists():
        return "missing"
    held = _entry_in(piece.path.read_text(), piece.entry)
    if held is None:
        return "missing"
    return "ok" if _same_entry(held, piece.entry) else "out of date"


def appended(text: str, entry: YmlEntry) -> str:
    """`text` with the entry added at its end; refused unless the result parses with the entry
    as the last item of its list and every other part of the document unchanged."""
    if not text:
        text = entry.header
    result = text + ("" if text.endswith("\n") else "\n") + entry.text
    try:
        before, after = yaml.safe_load(text) if text.strip() else None, yaml.safe_load(result)
    except yaml.YAMLError:
        raise ScaffoldError(f"cannot append {entry.name}: the file would not be valid YAML after it") from None
    items = _items(after, entry.where)
    if not items or not isinstance(items[-1], dict) or items[-1].get("name") != entry.name:
        raise ScaffoldError(f"cannot append {entry.name}: its list is not the last thing in the file")
    items.pop()
    if before is not None and after != before:
        raise ScaffoldError(f"cannot append {entry.name}: appending would change the rest of the file")
    return result


def check(m: HubModel, models_dir: Path = MODELS_DIR) -> list[Outcome]:
    return [Outcome(piece, state(piece)) for piece in pieces(m, models_dir)]


def scaffold(m: HubModel, models_dir: Path = MODELS_DIR) -> list[Outcome]:
    """Write what is missing: whole files, and entries appended to yml files. A generated sql file
    that differs is rewritten (nothing in it is hand-written); a yml entry that differs is only
    reported, since yml is never rewritten."""
    outcomes = check(m, models_dir)
    for outcome in outcomes:
        piece = outcome.piece
        if outcome.state == "ok" or (piece.entry is not None and outcome.state != "missing"):
            continue
        piece.path.parent.mkdir(parents=True, exist_ok=True)
        if piece.entry is None:
            piece.path.write_text(piece.text)
        else:
            piece.path.write_text(appended(piece.path.read_text() if piece.path.exists() else "", piece.entry))
    return outcomes

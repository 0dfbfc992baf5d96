"""The catalog lives once, in the dbt project; these tests prove it is complete and consistent."""

from __future__ import annotations

import copy as copy_module
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from hubs.catalog import SYSTEM_COLUMNS, Catalog, CatalogError, ensure_manifest, load_catalog


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest().read_text())


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def hub_models(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and re.match(r"hub\d_", n["schema"])]


def test_every_hub_table_is_an_entity_or_a_history(manifest: dict) -> None:
    for node in hub_models(manifest):
        hubs = node["config"]["meta"].get("hubs", {})
        assert hubs.get("entity") or hubs.get("history_of"), node["name"]


def test_staging_reads_its_landing_table_and_every_fk_parent(catalog: Catalog, manifest: dict) -> None:
    for entity in catalog.entities:
        stg = manifest["nodes"].get(f"model.hubs.stg_{entity.landing_table}")
        assert stg is not None, f"no staging model for {entity.qualified_name}"
        depends = set(stg["depends_on"]["nodes"])
        assert f"source.hubs.landing.{entity.landing_table}" in depends
        for fk in entity.foreign_keys:
            if fk.parent_model != entity.model:
                assert f"model.hubs.{fk.parent_model}" in depends, (stg["name"], fk.parent_model)
        hub = manifest["nodes"][f"model.hubs.{entity.model}"]
        assert f"model.hubs.stg_{entity.landing_table}" in hub["depends_on"]["nodes"]


def test_landing_sources_are_exactly_the_entities(catalog: Catalog, manifest: dict) -> None:
    sources = {s["name"] for s in manifest["sources"].values() if s["source_name"] == "landing"}
    assert sources == {e.landing_table for e in catalog.entities}


def test_landing_contract_excludes_what_the_platform_sets(catalog: Catalog) -> None:
    for entity in catalog.entities:
        landed = {c.name for c in entity.landed_columns}
        assert set(entity.primary_key) <= landed
        assert not landed & SYSTEM_COLUMNS
        assert not {c for c in landed if c.startswith("_")}
        assert not {c.name for c in entity.columns if c.computed} & landed
        assert set(entity.required_columns) <= landed


def test_scd2_entities_have_their_history_model(catalog: Catalog, manifest: dict) -> None:
    histories = {
        n["config"]["meta"]["hubs"]["history_of"]
        for n in hub_models(manifest)
        if n["config"]["meta"].get("hubs", {}).get("history_of")
    }
    assert histories == {e.model for e in catalog.entities if e.history == "scd2"}
    for entity in catalog.entities:
        if entity.history in ("scd2", "interval"):
            names = {c.name for c in entity.columns}
            assert {"valid_from", "valid_to"} <= names, entity.model


def test_validations_declare_severity_and_the_asset_they_guard(manifest: dict) -> None:
    validations = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test" and "validation" in n["config"].get("tags", [])
    ]
    assert {n["config"]["meta"]["validation"] for n in validations} >= {"Q3.1", "Q3.2", "Q3.3", "Q3.4", "Q3.5"}
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for node in validations:
        assert node["config"]["severity"].lower() in ("error", "warn"), node["name"]
        assert node["config"]["meta"]["dagster"]["ref"]["name"] in models, node["name"]
        assert node["config"]["meta"]["description"], node["name"]


# -- meta: what the other stores derive from the catalog ------------------------------------------
# The loader checks every rule (hubs/catalog.py, hubs/catalog_meta.py); these tests break one rule
# at a time in a copy of the manifest and read the loader's message.


def _broken(manifest: dict, tmp_path: Path, model: str, change: Callable[[dict], None]) -> str:
    """The loader's message for a copy of the manifest in which `change` broke one model."""
    copy = copy_module.deepcopy(manifest)
    change(copy["nodes"][f"model.hubs.{model}"])
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(copy))
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    return str(raised.value)


def _hubs(node: dict) -> dict:
    return node["config"]["meta"]["hubs"]


def _relationship(node: dict, rel_type: str) -> dict:
    return next(r for r in _hubs(node)["relationships"] if r["type"] == rel_type)


BROKEN_META = {
    "label not the entity's name": ("tractors", lambda n: _hubs(n).update(label="Truck"), "meta.hubs.label"),
    "no relationships key": ("tractors", lambda n: _hubs(n).pop("relationships"), "meta.hubs.relationships"),
    "relationship type in lower case": (
        "trips",
        lambda n: _relationship(n, "DRIVEN_BY").update(type="driven_by"),
        "UPPER_SNAKE_CASE",
    ),
    "relationship of unknown form": (
        "trips",
        lambda n: _relationship(n, "DRIVEN_BY").update(mystery_column=_relationship(n, "DRIVEN_BY").pop("columns")),
        "needs exactly one of",
    ),
    "relationship on columns that are no foreign key": (
        "trips",
        lambda n: _relationship(n, "DRIVEN_BY").update(columns=["trip_id"]),
        "is no foreign key of trips",
    ),
    "foreign key without its relationship": (
        "trips",
        lambda n: _hubs(n).update(relationships=[r for r in _hubs(n)["relationships"] if r["type"] != "CO_DRIVEN_BY"]),
        "the foreign key (co_driver_code) -> drivers needs one relationship",
    ),
    "relationship without cardinality": (
        "trips",
        lambda n: _relationship(n, "DRIVEN_BY").pop("cardinality"),
        "cardinality is missing",
    ),
    "link_to without link_from": (
        "trips",
        lambda n: _relationship(n, "ASSIGNED_UNIT").pop("link_from"),
        "link_to needs link_from",
    ),
    "array target no model": (
        "insurance_policies",
        lambda n: next(r for r in _hubs(n)["relationships"] if "array_column" in r).update(target="trucks"),
        "trucks is no hub model",
    ),
    "cache key on no column": (
        "tractors",
        lambda n: _hubs(n)["cache"][0].update(key="truck:{unit}:status"),
        "meta.hubs.cache[0].key: unit is no column of tractors",
    ),
    "cache ttl beyond six hours": (
        "tractors",
        lambda n: _hubs(n)["cache"][0].update(ttl_seconds=86400),
        "meta.hubs.cache[0].ttl_seconds",
    ),
    "unknown collection": (
        "insights",
        lambda n: _hubs(n)["vectors"].update(collection="notes"),
        "meta.hubs.vectors.collection",
    ),
    "vector text on no column": (
        "insights",
        lambda n: _hubs(n)["vectors"].update(text=["body_text"]),
        "meta.hubs.vectors.text: body_text is no column of insights",
    ),
    "vector time not a payload column": (
        "meeting_notes",
        lambda n: _hubs(n)["vectors"].update(time="title"),
        "meta.hubs.vectors.time: 'title' is not one of the payload columns",
    ),
    "temporal entity without timeline facts": (
        "tractors",
        lambda n: _hubs(n).pop("timeline"),
        "meta.hubs.timeline.facts",
    ),
    "contract not enforced": (
        "tractors",
        lambda n: n["config"]["contract"].update(enforced=False),
        "config.contract.enforced must be true",
    ),
    "column without description": (
        "tractors",
        lambda n: n["columns"]["vin"].update(description=""),
        "column vin needs a data_type and a description",
    ),
    "technical column missing": (
        "tractors",
        lambda n: n["columns"].pop("_row_hash"),
        "technical column(s) _row_hash missing",
    ),
    "navigation over an unknown relationship": (
        "loads",
        lambda n: _navigation(n, "carrier_vetting_at_pickup").update(path=["COVERED_BY", "VETTED_WITH"]),
        "meta.hubs.navigations[0] (carrier_vetting_at_pickup).path[1]: unknown relationship VETTED_WITH",
    ),
    "navigation whose path does not connect": (
        "loads",
        lambda n: _navigation(n, "carrier_vetting_at_pickup").update(path=["COVERED_BY", "LOGGED"]),
        "path[1]: the path does not connect: no LOGGED relationship touches Carrier",
    ),
    "navigation timed by no column": (
        "loads",
        lambda n: _navigation(n, "carrier_vetting_at_pickup").update(valid_at="picked_up_at"),
        "valid_at: picked_up_at is no column of loads",
    ),
    "navigation timed by a column that is no time": (
        "loads",
        lambda n: _navigation(n, "carrier_vetting_at_pickup").update(valid_at={"step": 1, "column": "legal_name"}),
        "carriers.legal_name is no time both stores hold",
    ),
    "navigation over a relationship PostgreSQL cannot follow": (
        "loads",
        lambda n: _navigation(n, "carrier_vetting_at_pickup").update(path=["BILLS"], valid_at="$at"),
        "path[0]: BILLS (typed_key, on invoice_load_matches) is no relationship PostgreSQL can follow",
    ),
    "navigation on a day of no column": (
        "drivers",
        lambda n: _navigation(n, "hos_events_on_day").update(on_day="logged_at"),
        "on_day: logged_at is no column of hos_events",
    ),
}


def _navigation(node: dict, name: str) -> dict:
    return next(n for n in _hubs(node)["navigations"] if n["name"] == name)


@pytest.mark.parametrize("case", list(BROKEN_META))
def test_the_loader_names_the_yml_model_and_key_of_a_broken_rule(case: str, manifest: dict, tmp_path: Path) -> None:
    model, change, expected = BROKEN_META[case]
    message = _broken(manifest, tmp_path, model, change)
    assert expected in message, message
    assert f"model {model}" in message and "dbt_project/models/hubs/" in message, message
    assert message.count("\n  ") == 1, message  # one rule broken, one problem named


def test_the_loader_refuses_a_foreign_key_onto_no_entity_key(manifest: dict, tmp_path: Path) -> None:
    def point_at_vin(node: dict) -> None:
        [fk] = [c for c in node["columns"]["unit_number"]["constraints"] if c["type"] == "foreign_key"]
        fk["to_columns"] = ["vin"]

    message = _broken(manifest, tmp_path, "fuel_transactions", point_at_vin)
    assert "foreign key (unit_number) -> tractors (vin) is not that entity's key (unit_number)" in message


def test_the_loader_refuses_a_label_declared_twice(manifest: dict, tmp_path: Path) -> None:
    message = _broken(manifest, tmp_path, "trailers", lambda n: _hubs(n).update(label="Tractor"))
    assert "label 'Tractor' is declared twice" in message


def test_the_loader_resolves_every_relationship_to_labels(catalog: Catalog) -> None:
    labels = {e.label for e in catalog.entities}
    for entity in catalog.entities:
        for rel in entity.relationships:
            assert rel.start_label in labels and set(rel.end_labels) <= labels, (entity.model, rel)
            if rel.form == "fk":
                parent = next(fk.parent_model for fk in entity.foreign_keys if fk.columns == rel.foreign_key)
                ends = (entity.label, catalog.by_model(parent).label)
                assert (rel.start_label, *rel.end_labels) == (ends[::-1] if rel.direction == "in" else ends)


def test_the_loader_refuses_a_navigation_name_declared_twice(manifest: dict, tmp_path: Path) -> None:
    def again(node: dict) -> None:
        _hubs(node)["navigations"].append(dict(_navigation(node, "drivers_of_unit"), name="unit_service_history"))

    message = _broken(manifest, tmp_path, "tractors", again)
    assert "navigation 'unit_service_history' is declared twice" in message, message


def test_navigations_resolve_to_routes_over_the_typed_relationships(catalog: Catalog) -> None:
    # the five patterns, each walked the way its relationships are drawn
    walked = {
        name: [[(leg.relationship.type, leg.far_label) for leg in route] for route in nav.routes]
        for name, nav in catalog.navigations.items()
    }
    assert walked["carrier_vetting_at_pickup"] == [[("COVERED_BY", "Carrier"), ("VETTED_BY", "CarrierVetting")]]
    assert walked["customer_of_trip"] == [[("HAULED_AS", "Load"), ("TENDERS", "Customer")]]
    assert walked["owners_as_of"] == [[("OWNS", "Party")]]
    assert walked["hos_events_on_day"] == [[("LOGGED", "HosEvent")]]
    assert sorted(walked["unit_service_history"]) == [
        [("FUELED", "FuelTransaction")],
        [("OF", "Inspection")],
        [("REPAIRS", "MaintenanceOrder")],
    ]
    times = {name: nav.time_parameter for name, nav in catalog.navigations.items()}
    assert (times["owners_as_of"], times["hos_events_on_day"], times["carrier_vetting_at_pickup"]) == (
        "time",
        "day",
        "",
    )


def test_labels_are_45_unique_names(catalog: Catalog) -> None:
    labels = [e.label for e in catalog.entities]
    assert len(labels) == 45 and len(set(labels)) == 45


def test_sixteen_entity_types_are_tracked_in_time(catalog: Catalog) -> None:
    temporal = {e.name for e in catalog.entities if e.history in ("scd2", "interval")}
    assert len(temporal) == 16
    assert {"tractor", "driver", "trip", "load", "driver_assignment", "goal", "ownership_stake"} <= temporal
    for entity in catalog.entities:
        assert bool(entity.timeline_facts) == entity.temporal, entity.model


def test_cache_covers_the_real_time_truck_keys(catalog: Catalog) -> None:
    keys = {entry.key: entry.ttl_seconds for e in catalog.entities for entry in e.cache}
    for key in ("truck:{unit_number}:status", "truck:{unit_number}:location", "truck:{unit_number}:driver"):
        assert keys[key] == 60
    assert {ttl for ttl in keys.values() if ttl > 60} <= set(range(3600, 6 * 3600 + 1))

"""The catalog lives once, in the dbt project; these tests prove it is complete and consistent."""

from __future__ import annotations

import json
import re

import pytest

from hubs.catalog import SYSTEM_COLUMNS, Catalog, ensure_manifest, load_catalog


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


def test_entities_have_enforced_contracts_with_keys_types_and_descriptions(catalog: Catalog, manifest: dict) -> None:
    assert catalog.entities, "no entities found"
    for entity in catalog.entities:
        node = manifest["nodes"][f"model.hubs.{entity.model}"]
        assert node["config"]["contract"]["enforced"], entity.model
        assert entity.primary_key, entity.model
        assert node["description"], entity.model
        for column in entity.columns:
            assert column.data_type, (entity.model, column.name)
            assert column.description.strip(), (entity.model, column.name)
        for name in ("created_at", "updated_at", "_landing_seq", "_row_hash"):
            assert name in {c.name for c in entity.columns}, (entity.model, name)


def test_entity_and_label_names_are_unique(catalog: Catalog) -> None:
    names = [e.name for e in catalog.entities]
    assert len(names) == len(set(names))
    tables = [e.qualified_name for e in catalog.entities]
    assert len(tables) == len(set(tables))


def test_every_foreign_key_points_at_an_entity_key(catalog: Catalog) -> None:
    models = {e.model: e for e in catalog.entities}
    for entity in catalog.entities:
        for fk in entity.foreign_keys:
            assert fk.parent_model in models, (entity.model, fk)
            parent = models[fk.parent_model]
            assert tuple(fk.parent_columns) == parent.primary_key, (entity.model, fk)


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

RELATIONSHIP_FORMS = {
    "columns",
    "from_columns",
    "link_to",
    "key_columns",
    "subject_column",
    "array_column",
    "json_column",
}


def test_labels_are_45_unique_pascal_case_names(catalog: Catalog) -> None:
    labels = [e.meta.get("label") for e in catalog.entities]
    assert len(labels) == 45 and len(set(labels)) == 45
    for entity, label in zip(catalog.entities, labels, strict=True):
        assert re.fullmatch(r"[A-Z][A-Za-z]+", label or ""), entity.model
        assert label.lower() == entity.name.replace("_", ""), (entity.model, label)


def test_every_foreign_key_has_exactly_one_relationship(catalog: Catalog) -> None:
    # ... of the platform's own; the design may name one more on the same columns (FUELED beside
    # FOR_UNIT, USES beside DRIVEN_BY), which then says so.
    for entity in catalog.entities:
        relationships = entity.meta.get("relationships")
        assert relationships is not None, f"{entity.model} declares no relationships (use [] for none)"
        fk_relationships = [tuple(r["columns"]) for r in relationships if "columns" in r]
        assert sorted(set(fk_relationships)) == sorted(fk.columns for fk in entity.foreign_keys), entity.model
        for columns in set(fk_relationships):
            on_them = [r for r in relationships if tuple(r.get("columns", ())) == columns]
            assert sum("design" not in r for r in on_them) <= 1, (entity.model, columns)


def test_relationships_are_well_formed_and_point_at_entities(catalog: Catalog) -> None:
    models = {e.model for e in catalog.entities}
    for entity in catalog.entities:
        columns = {c.name for c in entity.columns}
        fk_columns = {fk.columns: fk.parent_model for fk in entity.foreign_keys}
        for rel in entity.meta["relationships"]:
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", rel["type"]), (entity.model, rel)
            assert len(RELATIONSHIP_FORMS & set(rel)) == 1, (entity.model, rel)
            # link_from starts a link (link_to) or a typed pair (key_columns) at a foreign key's target
            assert "link_from" not in rel or {"link_to", "key_columns"} & set(rel), (entity.model, rel)
            assert "link_to" not in rel or "link_from" in rel, (entity.model, rel)
            assert rel.get("direction", "out") in ("in", "out"), (entity.model, rel)
            assert rel.get("cardinality"), (entity.model, rel)
            for key in ("from_columns", "to_columns", "link_from", "link_to"):
                if key in rel:
                    assert tuple(rel[key]) in fk_columns, (entity.model, rel)  # edge ends are foreign keys
            for key in ("key_columns", "properties"):
                assert set(rel.get(key, [])) <= columns, (entity.model, rel)
            for key in ("subject_column", "array_column", "json_column"):
                if key in rel:
                    assert rel[key] in columns, (entity.model, rel)
            targets = list((rel.get("targets") or {}).values()) + ([rel["target"]] if "target" in rel else [])
            assert set(targets) <= models, (entity.model, rel)


def test_cache_vector_and_timeline_meta_name_real_columns(catalog: Catalog) -> None:
    for entity in catalog.entities:
        columns = {c.name for c in entity.columns}
        for entry in entity.meta.get("cache", []):
            placeholders = set(re.findall(r"\{(\w+)\}", entry["key"]))
            assert placeholders and placeholders <= columns, (entity.model, entry)
            assert set(entry["fields"]) <= columns, (entity.model, entry)
            assert 1 <= entry["ttl_seconds"] <= 6 * 3600, (entity.model, entry)
        vectors = entity.meta.get("vectors")
        if vectors:
            assert vectors["collection"] in ("documents", "knowledge_items", "insights"), entity.model
            assert set(vectors["text"]) | set(vectors["payload"]) <= columns, entity.model
        timeline = entity.meta.get("timeline")
        if timeline:
            assert set(timeline["facts"]) <= columns, entity.model


def test_sixteen_entity_types_are_tracked_in_time(catalog: Catalog) -> None:
    temporal = {e.name for e in catalog.entities if e.history in ("scd2", "interval")}
    assert len(temporal) == 16
    assert {"tractor", "driver", "trip", "load", "driver_assignment", "goal", "ownership_stake"} <= temporal
    for entity in catalog.entities:
        tracked = bool(entity.meta.get("timeline", {}).get("facts"))
        assert tracked == (entity.history in ("scd2", "interval")), entity.model


def test_cache_covers_the_real_time_truck_keys(catalog: Catalog) -> None:
    keys = {entry["key"]: entry["ttl_seconds"] for e in catalog.entities for entry in e.meta.get("cache", [])}
    for key in ("truck:{unit_number}:status", "truck:{unit_number}:location", "truck:{unit_number}:driver"):
        assert keys[key] == 60
    assert {ttl for ttl in keys.values() if ttl > 60} <= set(range(3600, 6 * 3600 + 1))

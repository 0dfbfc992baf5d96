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

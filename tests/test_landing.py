"""File-level bad input: every kind is refused whole with a message that names the problem,
or lands intact; nothing half-lands."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from hubs.generate.common import make_vin
from tests.helpers import offer, query, scalar, write_csv


def tractor(unit: str, **changes: str) -> dict[str, str]:
    row = {
        "unit_number": unit,
        "vin": make_vin(random.Random(unit), "1XK", 2022, int(unit) if unit.isdigit() else 1),
        "make": "Kenworth",
        "model": "T680",
        "model_year": "2022",
        "status": "active",
        "owner_entity": "OT",
        "valid_from": "2025-01-01T00:00:00+00:00",
    }
    row.update(changes)
    return row


def only(results):
    assert len(results) == 1, results
    return results[0]


def test_csv_lands_every_row_with_file_and_row_numbers(empty_db: str, landing_dir: Path) -> None:
    path = write_csv(landing_dir / "hub3_origin.tractors.csv", [tractor("7001"), tractor("7002")])
    result = only(offer(path))
    assert (result.status, result.rows) == ("loaded", 2)
    rows = query(
        empty_db,
        "select unit_number, _row_number, f.file_name from landing.hub3_origin__tractors"
        " join landing._files f on f.file_id = _file_id order by _row_number",
    )
    assert rows == [("7001", 1, path.name), ("7002", 2, path.name)]


def test_unknown_file_name_is_refused_and_recorded(empty_db: str, landing_dir: Path) -> None:
    path = landing_dir / "tractors.csv"
    path.write_text("unit_number\n1\n")
    result = only(offer(path))
    assert result.status == "refused"
    assert "unknown file name 'tractors.csv'" in result.message
    assert scalar(empty_db, "select status from landing._files where file_name = 'tractors.csv'") == "refused"


def test_unknown_entity_is_refused(empty_db: str, landing_dir: Path) -> None:
    path = landing_dir / "hub3_origin.spaceships.csv"
    path.write_text("id\n1\n")
    result = only(offer(path))
    assert result.status == "refused" and "unknown entity hub3_origin.spaceships;" in result.message


def test_unknown_columns_refuse_the_whole_file_naming_them(empty_db: str, landing_dir: Path) -> None:
    rows = [{**tractor("7001"), "colour": "red", "created_at": "2025-01-01"}]
    result = only(offer(write_csv(landing_dir / "hub3_origin.tractors.csv", rows)))
    assert result.status == "refused"
    assert "colour" in result.message and "created_at (set by the platform)" in result.message
    assert scalar(empty_db, "select count(*) from landing.hub3_origin__tractors") == 0


def test_computed_column_is_named_as_computed(empty_db: str, landing_dir: Path) -> None:
    rows = [{**tractor("7001"), "location_gps": "(1,2)"}]
    result = only(offer(write_csv(landing_dir / "hub3_origin.tractors.csv", rows)))
    assert result.status == "refused" and "location_gps (computed)" in result.message


def test_missing_required_column_is_refused(empty_db: str, landing_dir: Path) -> None:
    row = tractor("7001")
    del row["vin"]
    result = only(offer(write_csv(landing_dir / "hub3_origin.tractors.csv", [row])))
    assert result.status == "refused" and "missing required column(s) for hub3_origin.tractors: vin" in result.message


def test_header_naming_a_column_twice_is_refused(empty_db: str, landing_dir: Path) -> None:
    path = landing_dir / "hub3_origin.trailers.csv"
    path.write_text("trailer_number,trailer_type,length_ft,ownership,status,status\nV1,V,53,owned,active,active\n")
    result = only(offer(path))
    assert result.status == "refused" and "named twice" in result.message and "status" in result.message


def test_empty_file_is_refused(empty_db: str, landing_dir: Path) -> None:
    path = landing_dir / "hub3_origin.tractors.csv"
    path.write_bytes(b"")
    result = only(offer(path))
    assert result.status == "refused" and "empty" in result.message


def test_header_only_file_lands_zero_rows(empty_db: str, landing_dir: Path) -> None:
    path = write_csv(landing_dir / "hub3_origin.tractors.csv", [tractor("7001")])
    path.write_text(path.read_text().splitlines()[0] + "\n")
    result = only(offer(path))
    assert (result.status, result.rows) == ("loaded", 0)


def test_bom_and_crlf_land_clean_values(empty_db: str, landing_dir: Path) -> None:
    path = write_csv(
        landing_dir / "hub3_origin.tractors.csv", [tractor("7001"), tractor("7002")], newline="\r\n", bom=True
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in path.read_bytes()
    result = only(offer(path))
    assert (result.status, result.rows) == ("loaded", 2)
    values = query(empty_db, "select unit_number, valid_from from landing.hub3_origin__tractors order by 1")
    assert values == [("7001", "2025-01-01T00:00:00+00:00"), ("7002", "2025-01-01T00:00:00+00:00")]


def test_row_with_extra_field_refuses_the_file_with_its_line(empty_db: str, landing_dir: Path) -> None:
    path = write_csv(landing_dir / "hub3_origin.tractors.csv", [tractor("7001")])
    path.write_text(path.read_text() + "7002,X,Kenworth,T680,2022,active,OT,2025-01-01,surplus\n")
    result = only(offer(path))
    assert result.status == "refused"
    assert "extra data after last expected column" in result.message and "at line 3 of the file" in result.message
    assert scalar(empty_db, "select count(*) from landing.hub3_origin__tractors") == 0


def test_invalid_utf8_is_refused(empty_db: str, landing_dir: Path) -> None:
    path = write_csv(landing_dir / "hub3_origin.tractors.csv", [tractor("7001", model="T680")])
    path.write_bytes(path.read_bytes().replace(b"T680", b"T\xff80"))
    result = only(offer(path))
    assert result.status == "refused" and "UTF8" in result.message


def test_same_file_twice_is_skipped(empty_db: str, landing_dir: Path) -> None:
    path = write_csv(landing_dir / "hub3_origin.tractors.csv", [tractor("7001")])
    assert only(offer(path)).status == "loaded"
    second = only(offer(path))
    assert second.status == "skipped" and "already landed" in second.message
    assert scalar(empty_db, "select count(*) from landing.hub3_origin__tractors") == 1


def test_jsonl_lands_objects_with_arrays_as_json(empty_db: str, landing_dir: Path) -> None:
    path = landing_dir / "hub3_origin.drivers.jsonl"
    path.write_text(
        '{"driver_code": "JDOE", "first_name": "Jo", "last_name": "Doe", "cdl_number": "1", "cdl_state": "OK",'
        ' "cdl_class": "A", "endorsements": ["H", "T"], "cdl_expires_on": "2030-01-01", "hire_date": "2020-01-01",'
        ' "status": "active", "pay_rate": 0.6}\n\n'
    )
    result = only(offer(path))
    assert (result.status, result.rows) == ("loaded", 1)
    assert query(empty_db, "select endorsements, pay_rate from landing.hub3_origin__drivers") == [('["H", "T"]', "0.6")]


def test_jsonl_line_that_is_not_an_object_is_refused_naming_the_problem(empty_db: str, landing_dir: Path) -> None:
    path = landing_dir / "hub3_origin.drivers.jsonl"
    path.write_text('{"driver_code": "A"}\n[1, 2]\nnot json secret\n"text"\n{"driver_code": "B\\u0000"}\n')
    result = only(offer(path))
    assert result.status == "refused"
    assert result.message == (
        "every line must be a JSON object: line 2 is a JSON array, not an object; line 3 is not valid JSON;"
        " line 4 is a JSON string, not an object;"
        " line 5 holds \\u0000 (or another character PostgreSQL text cannot hold)"
    )
    assert scalar(empty_db, "select message from landing._files") == result.message


def test_jsonl_nested_too_deep_is_refused_and_the_next_files_land(empty_db: str, landing_dir: Path) -> None:
    deep = landing_dir / "hub3_origin.drivers.jsonl"
    deep.write_text('{"driver_code": "A"}\n{"driver_code": "B", "notes": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    after = write_csv(landing_dir / "hub3_origin.tractors.csv", [tractor("7001")])
    results = offer(landing_dir)
    assert [(r.path.name, r.status) for r in results] == [(deep.name, "refused"), (after.name, "loaded")]
    assert results[0].message == "line(s) 2 nest deeper than 1000 levels (JSON PostgreSQL cannot parse)"
    assert query(empty_db, "select file_name, status from landing._files order by file_id") == [
        (deep.name, "refused"),
        (after.name, "loaded"),
    ]


def test_jsonl_value_of_the_wrong_json_type_lands_with_its_finding(empty_db: str, landing_dir: Path) -> None:
    path = landing_dir / "hub3_origin.drivers.jsonl"
    path.write_text(
        '{"driver_code": "A", "first_name": {"nested": {"a": 1}}, "pay_rate": 0.6, "endorsements": ["H"],'
        ' "hire_date": 20200101, "status": null}\n'
        '{"driver_code": "B", "first_name": "Jo", "pay_rate": "0.6", "endorsements": "{H}",'
        ' "hire_date": "2020-01-01"}\n'
    )
    assert only(offer(path)).status == "loaded"
    assert query(
        empty_db, "select driver_code, first_name, _load_errors from landing.hub3_origin__drivers order by 1"
    ) == [
        (
            "A",
            '{"nested": {"a": 1}}',
            "type: first_name is a JSON object, expected a string\ntype: hire_date is a JSON number, expected a string",
        ),
        ("B", "Jo", None),
    ]


def test_symlink_is_refused_without_reading_it(empty_db: str, landing_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET,hunter2\nrow\n")
    link = landing_dir / "hub3_origin.tractors.csv"
    link.symlink_to(secret)
    for results in (offer(landing_dir), offer(link)):
        result = only(results)
        assert result.status == "refused" and "symbolic link" in result.message
    messages = [m for (m,) in query(empty_db, "select message from landing._files where status = 'refused'")]
    assert len(messages) == 2 and not any("TOPSECRET" in m or "hunter2" in m for m in messages)


def test_refusals_never_echo_file_content(empty_db: str, landing_dir: Path) -> None:
    header = landing_dir / "hub3_origin.tractors.csv"
    header.write_text("unit_number,colour,p@ss w0rd: hunter2\n7001,red,x\n")
    result = only(offer(header))
    assert result.status == "refused" and "hunter2" not in result.message
    assert "colour" in result.message and "1 header field(s) that are not column names" in result.message

    row = landing_dir / "second" / "hub3_origin.tractors.csv"
    row.parent.mkdir()
    write_csv(row, [tractor("7001")])
    row.write_text(row.read_text() + "7002,SECRETVALUE,Kenworth,T680,2022,active,OT,2025-01-01,surplus\n")
    result = only(offer(row))
    assert result.status == "refused" and "at line 3 of the file" in result.message
    assert "SECRETVALUE" not in result.message and "7002" not in result.message


def test_jsonl_unknown_key_is_refused(empty_db: str, landing_dir: Path) -> None:
    path = landing_dir / "hub3_origin.drivers.jsonl"
    path.write_text('{"driver_code": "A", "shoe_size": 44}\n')
    result = only(offer(path))
    assert result.status == "refused" and "shoe_size" in result.message


STREAM_SCRIPT = """
import resource, sys
from pathlib import Path
from hubs import settings
from hubs.catalog import load_catalog
from hubs.landing.loader import load_paths
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
[result] = load_paths(settings.load(), load_catalog(), [Path(sys.argv[1])])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(result.status, result.rows, before, after)
"""


def test_hundred_megabyte_file_streams_with_flat_memory(empty_db: str, landing_dir: Path) -> None:
    path = landing_dir / "hub3_origin.hos_events.csv"
    line = (
        "ELD{n:05d},2025-03-01T{h:02d}:00:00+00:00,{s},JDOE,6520,1,3,1,1,120,3.5,412345,9876.5,36.15,-95.99,"
        "near Tulsa OK with a longer description to make the row realistic,false,false,\n"
    )
    header = (
        "eld_identifier,event_at,event_seq_id,driver_code,unit_number,event_type,event_code,record_status,"
        "record_origin,accumulated_miles,elapsed_engine_hours,total_vehicle_miles,total_engine_hours,lat,lon,"
        "location_description,malfunction_ind,data_diag_ind,comment\n"
    )
    rows = 0
    with path.open("w") as handle:
        handle.write(header)
        while handle.tell() < 100 * 1024 * 1024:
            handle.write(
                "".join(line.format(n=(rows + i) % 99999, h=(rows + i) % 24, s=(rows + i) % 65536) for i in range(1000))
            )
            rows += 1000
    size_mb = path.stat().st_size / 1024 / 1024
    assert size_mb >= 100
    out = subprocess.run(
        [sys.executable, "-c", STREAM_SCRIPT, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    status, landed, before_kb, after_kb = out[0], int(out[1]), int(out[2]), int(out[3])
    print(f"landed {landed:,} rows from {size_mb:.0f} MB; peak RSS {before_kb / 1024:.0f} -> {after_kb / 1024:.0f} MB")
    assert (status, landed) == ("loaded", rows)
    # Reading the file into memory would add ~100 MB; streaming adds a few MB of buffers.
    assert (after_kb - before_kb) / 1024 < 40, f"peak memory grew by {(after_kb - before_kb) / 1024:.0f} MB"


@pytest.mark.parametrize(
    "name", ["hub3_origin.tractors.CSV", "hub3_origin.tractors.csv.gz", "HUB3_origin.tractors.csv"]
)
def test_misspelled_names_are_refused(empty_db: str, landing_dir: Path, name: str) -> None:
    path = landing_dir / name
    path.write_text("unit_number\n1\n")
    assert only(offer(path)).status == "refused"


def test_trailing_blank_lines_are_ignored(empty_db: str, landing_dir: Path) -> None:
    path = write_csv(landing_dir / "hub3_origin.tractors.csv", [tractor("7001"), tractor("7002")], newline="\r\n")
    path.write_bytes(path.read_bytes() + b"\r\n\r\n  \n")
    result = only(offer(path))
    assert (result.status, result.rows) == ("loaded", 2)

"""The PostgreSQL validations: each passes on generated data and fails on data built to break it.

Where the database itself forbids the breakage (exclusion and CHECK constraints), the test
drops that constraint in its private copy first: the validation must catch what it guards even
if the constraint were missing.
"""

from __future__ import annotations

import pytest

from tests.helpers import dbt_failed, dbt_passed, execute, query, run_dbt

VALIDATIONS = [
    "q3_1_driver_assignments",
    "q3_2_equipment_status",
    "q3_3_fuel_transactions",
    "q3_4_vin_validity",
    "q3_5_driver_qualification",
]


def test_all_validations_pass_on_generated_data(template_db: str) -> None:
    result = run_dbt(["test", "--select", "tag:validation"], template_db)
    assert result.returncode == 0, result.stdout[-3000:]
    for name in VALIDATIONS:
        assert dbt_passed(result, name), f"{name} did not pass:\n{result.stdout[-3000:]}"


def problems(url: str, test: str) -> set[str]:
    return {row[0] for row in query(url, f"select problem from hubs_audit.{test}")}


BREAKERS = {
    "q3_1_driver_assignments": (
        """alter table hub3_origin.driver_assignments drop constraint driver_assignments_no_overlap_per_seat;
           alter table hub3_origin.driver_assignments drop constraint driver_assignments_no_overlap_per_driver;
           insert into hub3_origin.driver_assignments
           select gen_random_uuid(), driver_code, unit_number, seat, valid_from, valid_to, odometer_start,
                  odometer_end, assigned_by, reason, notes, created_at, updated_at, _landing_seq, _row_hash
           from hub3_origin.driver_assignments where valid_to is not null limit 1""",
        {"seat_overlap", "driver_on_two_units"},
    ),
    "q3_2_equipment_status": (
        """update hub3_origin.tractors set status = 'maintenance' where unit_number = (
             select unit_number from hub3_origin.tractors where status = 'active' limit 1);
           delete from hub3_origin.maintenance_orders where status in ('open', 'in_progress', 'blocked')""",
        {"maintenance_without_open_order"},
    ),
    "q3_3_fuel_transactions": (
        """update hub3_origin.fuel_transactions set total_amount = total_amount + 5 where transaction_id = (
             select transaction_id from hub3_origin.fuel_transactions where gallons is not null limit 1)""",
        {"total_mismatch"},
    ),
    "q3_4_vin_validity": (
        """alter table hub3_origin.tractors drop constraint tractors_vin_check;
           update hub3_origin.tractors
              set vin = overlay(vin placing (case when substr(vin, 9, 1) = '0' then '1' else '0' end) from 9 for 1)
            where unit_number = '6520'""",
        {"check_digit"},
    ),
    "q3_5_driver_qualification": (
        """update hub3_origin.drivers set med_cert_expires_on = date '2025-01-01' where driver_code = (
             select driver_code from hub3_origin.hos_events
              where event_code = 3 and event_at > '2025-06-01' limit 1)""",
        {"driving_with_expired_medical_certificate"},
    ),
}


@pytest.mark.parametrize("test", VALIDATIONS)
def test_validation_fails_on_data_built_to_break_it(db: str, test: str) -> None:
    statements, expected_problems = BREAKERS[test]
    before = run_dbt(["test", "--select", test], db)
    assert dbt_passed(before, test), before.stdout[-2000:]
    execute(db, statements)
    result = run_dbt(["test", "--select", test], db)
    assert dbt_failed(result, test), result.stdout[-3000:]
    assert expected_problems <= problems(db, test)

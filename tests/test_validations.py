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
    "q1_1_g_entity_integrity",
    "q1_2_project_relationships",
    "q1_3_goal_measurement",
    "q1_4_task_integrity",
    "q1_5_decision_chain",
    "q2_1_load_relationships",
    "q2_2_load_status_flow",
    "q2_3_load_margin",
    "q2_4_carrier_compliance",
    "q2_5_rate_confirmations",
    "q4_1_party_categories",
    "q4_2_party_relationships",
    "q4_3_address_links",
    "q4_4_contact_points",
    "q4_5_cross_hub_parties",
    "q5_1_entity_validation",
    "q5_2_intercompany_flagging",
    "q5_3_invoice_matching",
    "q5_4_payments",
    "q5_5_gl_accounts",
    "q6_1_ownership",
    "q6_2_license_expiration",
    "q6_2_expiring_soon",
    "q6_3_filings",
    "q6_4_insurance_minimums",
    "q6_5_ifta_consistency",
]

# The as-of date of the hub 6 checks: the latest activity in the hubs.
AS_OF = """(select greatest((select max(dispatched_at) from hub3_origin.trips),
                         (select max(pickup_at) from hub2_openhaul.loads))::date)"""
# A current primary physical address link of an active organization.
PRIMARY_PHYSICAL = """from hub4_contacts.party_addresses as pa
              join hub4_contacts.parties as p on p.party_id = pa.party_id
             where p.party_type = 'organization' and p.status = 'active'
               and pa.address_type = 'physical' and pa.is_primary and pa.valid_to is null"""
IFTA_LINE_KEY = "ifta_license, tax_year, quarter, jurisdiction, fuel_type"


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
    "q1_1_g_entity_integrity": (
        # G's party becomes an organization, the second owner's party inactive: both are parties
        # that exist (the foreign key holds), neither is an active person.
        """update hub1_command.persons set active = false where handle = 'G';
           update hub1_command.persons set role = 'owner', is_owner = true where person_id = (
             select person_id from hub1_command.persons where handle <> 'G' order by handle limit 1);
           update hub4_contacts.parties set party_type = 'organization', legal_name = 'G Holdings'
            where party_id = (select party_id from hub1_command.persons where handle = 'G');
           update hub4_contacts.parties set status = 'inactive' where party_id = (
             select party_id from hub1_command.persons where handle <> 'G' and is_owner)""",
        {"owner_inactive", "several_owners", "owner_not_G", "owner_party_not_active_person"},
    ),
    "q1_2_project_relationships": (
        """update hub1_command.persons set active = false where person_id = (
             select owner_id from hub1_command.projects order by code limit 1);
           alter table hub1_command.projects drop constraint projects_goal_id_fkey;
           update hub1_command.projects set goal_id = gen_random_uuid() where project_id = (
             select project_id from hub1_command.projects order by code desc limit 1)""",
        {"owner_inactive", "unknown_goal"},
    ),
    "q1_3_goal_measurement": (
        # Goal x (a '2025' goal in pct at 150) rolls up to goal y (made '2025-Q1', unmeasured).
        """update hub1_command.goals set period = '2025-Q1', status = 'on_track', current = null where goal_id = (
             select goal_id from hub1_command.goals order by goal_id offset 1 limit 1);
           update hub1_command.goals
              set period = '2025', unit = 'pct', current = 150,
                  parent_goal_id = (select goal_id from hub1_command.goals order by goal_id offset 1 limit 1)
            where goal_id = (select goal_id from hub1_command.goals order by goal_id limit 1)""",
        {"pct_out_of_range", "parent_period_mismatch", "unmeasured"},
    ),
    "q1_4_task_integrity": (
        """alter table hub1_command.tasks drop constraint tasks_done_iff_completed;
           update hub1_command.tasks set status = 'done' where task_id = (
             select task_id from hub1_command.tasks where status <> 'done' and completed_at is null
              order by task_id limit 1);
           update hub1_command.tasks set started_at = completed_at + interval '1 day' where task_id = (
             select task_id from hub1_command.tasks where completed_at is not null order by task_id limit 1)""",
        {"done_without_completed_at", "completed_before_started"},
    ),
    "q1_5_decision_chain": (
        # Two decisions supersede each other.
        """update hub1_command.decisions set status = 'superseded', superseded_by = (
             select decision_id from hub1_command.decisions order by decision_id offset 1 limit 1)
            where decision_id = (select decision_id from hub1_command.decisions order by decision_id limit 1);
           update hub1_command.decisions set status = 'superseded', superseded_by = (
             select decision_id from hub1_command.decisions order by decision_id limit 1)
            where decision_id = (
              select decision_id from hub1_command.decisions order by decision_id offset 1 limit 1)""",
        {"supersession_cycle"},
    ),
    "q2_1_load_relationships": (
        """alter table hub2_openhaul.loads drop constraint loads_carrier_once_covered;
           update hub2_openhaul.loads set carrier_usdot = null where load_number = (
             select load_number from hub2_openhaul.loads where status = 'delivered' order by load_number limit 1);
           delete from hub2_openhaul.load_stops where stop_seq = 1 and load_number = (
             select load_number from hub2_openhaul.load_stops group by load_number having count(*) >= 2
              order by load_number limit 1);
           update hub2_openhaul.load_stops set stop_type = 'delivery' where stop_seq = 1 and load_number = (
             select load_number from hub2_openhaul.load_stops group by load_number
             having count(*) >= 2 and min(stop_seq) = 1 order by load_number desc limit 1)""",
        {"no_carrier", "stops_not_numbered_1_to_n", "first_stop_not_pickup"},
    ),
    "q2_2_load_status_flow": (
        # A pickup-stage check call moved after the load's last (delivery-stage) call.
        """alter table hub2_openhaul.loads drop constraint loads_pickup_before_delivery;
           update hub2_openhaul.loads set delivery_at = pickup_at - interval '1 hour' where load_number = (
             select load_number from hub2_openhaul.loads where pickup_at is not null and delivery_at is not null
              order by load_number limit 1);
           update hub2_openhaul.check_calls as c
              set reported_at = (select max(x.reported_at) from hub2_openhaul.check_calls as x
                                  where x.load_number = c.load_number) + interval '1 minute'
            where c.check_call_id = (
              select check_call_id from hub2_openhaul.check_calls
               where status_code in ('X3', 'AF', 'CP', 'L1', 'X8')
                 and load_number in (select load_number from hub2_openhaul.check_calls
                                      where status_code in ('X1', 'X5', 'D1'))
               order by load_number, reported_at limit 1)""",
        {"delivery_before_pickup", "check_calls_out_of_order"},
    ),
    "q2_3_load_margin": (
        """update hub2_openhaul.loads set margin = margin + 100 where load_number = (
             select load_number from hub2_openhaul.loads where carrier_rate is not null
              order by load_number limit 1)""",
        {"margin_mismatch"},
    ),
    "q2_4_carrier_compliance": (
        # The vetting in force at a load's pickup fails.
        """update hub2_openhaul.carrier_vettings as v set result = 'fail'
             from (select carrier_usdot, pickup_at from hub2_openhaul.loads
                    where carrier_usdot is not null and pickup_at is not null and status <> 'cancelled'
                    order by load_number limit 1) as l
            where v.usdot_number = l.carrier_usdot
              and v.valid_from <= l.pickup_at and l.pickup_at < coalesce(v.valid_to, 'infinity')""",
        {"vetting_not_passing"},
    ),
    "q2_5_rate_confirmations": (
        """update hub2_openhaul.rate_confirmations set total_carrier_pay = total_carrier_pay + 50
            where rate_con_number = (
              select distinct on (load_number) rate_con_number from hub2_openhaul.rate_confirmations
               where signed_at is not null order by load_number, version desc limit 1);
           update hub2_openhaul.rate_confirmations set signed_at = null, signed_by = null where load_number = (
             select l.load_number from hub2_openhaul.loads as l
              where l.status in ('dispatched', 'at_origin', 'in_transit', 'at_destination', 'delivered')
                and exists (select 1 from hub2_openhaul.rate_confirmations as r
                             where r.load_number = l.load_number and r.signed_at is not null)
              order by l.load_number desc limit 1)""",
        {"total_differs_from_load", "total_not_sum", "no_signed_confirmation"},
    ),
    "q4_1_party_categories": (
        """update hub4_contacts.party_categories set valid_to = valid_from + interval '1 day'
            where valid_to is null and party_id = (
              select party_id from hub4_contacts.parties where status = 'active' order by party_id limit 1);
           alter table hub4_contacts.party_categories drop constraint party_categories_category_check;
           update hub4_contacts.party_categories set category = 'astronaut'
            where (party_id, category, valid_from) = (
              select party_id, category, valid_from from hub4_contacts.party_categories
               order by party_id desc, category limit 1)""",
        {"no_current_category", "unknown_category"},
    ),
    "q4_2_party_relationships": (
        # One relationship made a party's relationship with itself, then copied.
        """alter table hub4_contacts.party_relationships drop constraint party_relationships_distinct_parties;
           alter table hub4_contacts.party_relationships drop constraint party_relationships_no_overlap;
           update hub4_contacts.party_relationships set to_party_id = from_party_id where relationship_id = (
             select relationship_id from hub4_contacts.party_relationships order by relationship_id limit 1);
           insert into hub4_contacts.party_relationships
                  (relationship_id, from_party_id, to_party_id, rel_type, title, is_primary_contact, valid_from,
                   valid_to, source, notes, created_at, updated_at, _landing_seq, _row_hash)
           select gen_random_uuid(), from_party_id, to_party_id, rel_type, title, is_primary_contact, valid_from,
                  valid_to, source, notes, created_at, updated_at, _landing_seq, _row_hash
             from hub4_contacts.party_relationships order by relationship_id limit 1""",
        {"same_party", "overlapping_duplicate"},
    ),
    "q4_3_address_links": (
        f"""update hub4_contacts.party_addresses set is_primary = false
             where address_type = 'physical' and is_primary and valid_to is null and party_id = (
               select pa.party_id {PRIMARY_PHYSICAL} order by pa.party_id limit 1);
            insert into hub4_contacts.party_addresses
                   (party_id, address_id, address_type, valid_from, valid_to, is_primary, label, contact_name,
                    verified_at, notes, created_at, updated_at, _landing_seq, _row_hash)
            select pa.party_id,
                   (select a.address_id from hub4_contacts.addresses as a
                     where not exists (select 1 from hub4_contacts.party_addresses as x
                                        where x.party_id = pa.party_id and x.address_id = a.address_id)
                     order by a.address_id limit 1),
                   pa.address_type, pa.valid_from, pa.valid_to, true, pa.label, pa.contact_name, pa.verified_at,
                   pa.notes, pa.created_at, pa.updated_at, pa._landing_seq, pa._row_hash
            {PRIMARY_PHYSICAL} order by pa.party_id desc limit 1""",
        {"no_primary_physical_address", "several_primary_physical_addresses"},
    ),
    "q4_4_contact_points": (
        # A phone number as typed, and an e-mail address again in capitals (the key is case-sensitive).
        """alter table hub4_contacts.contact_points drop constraint contact_points_value_format;
           update hub4_contacts.contact_points set value = '918-555-0100' where (party_id, channel, value) = (
             select party_id, channel, value from hub4_contacts.contact_points where channel <> 'email'
              order by party_id, channel, value limit 1);
           insert into hub4_contacts.contact_points
                  (party_id, channel, value, purpose, extension, is_primary, label, preferred_hours, sms_opt_in,
                   do_not_contact, verified_at, created_at, updated_at, _landing_seq, _row_hash)
           select party_id, channel, upper(value), purpose, extension, false, label, preferred_hours, sms_opt_in,
                  do_not_contact, verified_at, created_at, updated_at, _landing_seq, _row_hash
             from hub4_contacts.contact_points where channel = 'email' and value <> upper(value)
            order by party_id, value limit 1""",
        {"bad_phone", "duplicate"},
    ),
    "q4_5_cross_hub_parties": (
        """update hub4_contacts.parties
              set status = 'merged',
                  merged_into = (select p.party_id from hub4_contacts.parties as p
                                  where p.party_id <> (select party_id from hub2_openhaul.customers
                                                        order by customer_code limit 1)
                                  order by p.party_id limit 1)
            where party_id = (select party_id from hub2_openhaul.customers order by customer_code limit 1);
           alter table hub2_openhaul.carriers drop constraint carriers_party_id_fkey;
           update hub2_openhaul.carriers set party_id = gen_random_uuid() where usdot_number = (
             select usdot_number from hub2_openhaul.carriers order by usdot_number limit 1)""",
        {"merged_party", "unknown_party"},
    ),
    "q5_1_entity_validation": (
        """alter table hub5_financial.legal_entities drop constraint legal_entities_ein_check;
           alter table hub5_financial.legal_entities drop constraint legal_entities_usdot_number_key;
           alter table hub5_financial.legal_entities alter column formation_state drop not null;
           update hub5_financial.legal_entities set ein = '123456789' where entity_code = (
             select entity_code from hub5_financial.legal_entities order by entity_code limit 1);
           update hub5_financial.legal_entities set formation_state = null where entity_code = (
             select entity_code from hub5_financial.legal_entities order by entity_code desc limit 1);
           update hub5_financial.legal_entities
              set usdot_number = (select usdot_number from hub5_financial.legal_entities
                                   where usdot_number is not null order by entity_code limit 1)
            where entity_code = (
              select entity_code from hub5_financial.legal_entities
               where usdot_number is distinct from (select usdot_number from hub5_financial.legal_entities
                                                     where usdot_number is not null order by entity_code limit 1)
               order by entity_code limit 1)""",
        {"bad_ein", "no_formation_state", "duplicate_usdot"},
    ),
    "q5_2_intercompany_flagging": (
        """update hub5_financial.ar_invoices set is_intercompany = false where (entity_code, invoice_number) = (
             select entity_code, invoice_number from hub5_financial.ar_invoices where is_intercompany
              order by entity_code, invoice_number limit 1);
           update hub5_financial.ap_bills as b set amount = b.amount + 10
             from hub5_financial.intercompany_txns as t
             join hub5_financial.legal_entities as f on f.entity_code = t.from_entity
            where b.entity_code = t.to_entity and b.vendor_party_id = f.party_id
              and b.vendor_invoice_number = t.ap_vendor_invoice_number
              and t.ic_txn_id = (select ic_txn_id from hub5_financial.intercompany_txns order by ic_txn_id limit 1)""",
        {"ar_not_flagged", "ap_amount_differs"},
    ),
    "q5_3_invoice_matching": (
        """delete from hub5_financial.invoice_load_matches where load_ref_type = 'openhaul_load' and load_ref = (
             select load_number from hub2_openhaul.loads where status = 'delivered' order by load_number limit 1);
           update hub5_financial.invoice_load_matches set matched_amount = matched_amount + 25
            where (entity_code, invoice_number, load_ref_type, load_ref) = (
              select entity_code, invoice_number, load_ref_type, load_ref from hub5_financial.invoice_load_matches
               where load_ref_type = 'openhaul_load' and match_status = 'matched' order by load_ref desc limit 1)""",
        {"not_invoiced", "matched_amount_differs"},
    ),
    "q5_4_payments": (
        # An invoice with payments applied shown as wholly unpaid; a payment smaller than it applies.
        """update hub5_financial.ar_invoices set balance_due = total, status = 'sent'
            where (entity_code, invoice_number) = (
              select entity_code, invoice_number from hub5_financial.ar_invoices where balance_due < total
               order by entity_code, invoice_number limit 1);
           alter table hub5_financial.payments drop constraint payments_applied_within_amount;
           update hub5_financial.payments set amount = 0.01 where payment_id = (
             select payment_id from hub5_financial.payments where applied_amount > 0.01 order by payment_id limit 1)""",
        {"balance_mismatch", "payment_over_applied"},
    ),
    "q5_5_gl_accounts": (
        """alter table hub5_financial.gl_accounts drop constraint gl_accounts_normal_balance_matches_type;
           update hub5_financial.gl_accounts
              set normal_balance = case normal_balance when 'debit' then 'credit' else 'debit' end
            where (entity_code, account_number) = (
              select entity_code, account_number from hub5_financial.gl_accounts where not is_intercompany
               order by entity_code, account_number limit 1);
           update hub5_financial.gl_accounts set is_intercompany = false, counterparty_entity = null
            where is_intercompany and (entity_code, counterparty_entity) = (
              select from_entity, to_entity from hub5_financial.intercompany_txns order by ic_txn_id limit 1)""",
        {"wrong_normal_balance", "missing_due_to_from"},
    ),
    "q6_1_ownership": (
        """update hub6_corporate.ownership_stakes set ownership_pct = ownership_pct - 1
            where (owner_party_id, entity_code, valid_from) = (
              select owner_party_id, entity_code, valid_from from hub6_corporate.ownership_stakes
               where ownership_pct > 1 order by entity_code, valid_from limit 1);
           alter table hub6_corporate.ownership_stakes drop constraint ownership_stakes_no_overlap;
           insert into hub6_corporate.ownership_stakes
                  (owner_party_id, entity_code, valid_from, valid_to, ownership_pct, interest_type, units, voting,
                   capital_contributed, acquired_via, source_document, notes, created_at, updated_at, _landing_seq,
                   _row_hash)
           select owner_party_id, entity_code, valid_from + interval '1 second', valid_to, ownership_pct,
                  interest_type, units, voting, capital_contributed, acquired_via, source_document, notes,
                  created_at, updated_at, _landing_seq, _row_hash
             from hub6_corporate.ownership_stakes order by entity_code desc, valid_from desc limit 1""",
        {"stakes_not_100", "overlapping_stakes"},
    ),
    "q6_2_license_expiration": (
        """delete from hub6_corporate.credentials where credential_type = 'IRP_CAB_CARD' and unit_number = (
             select unit_number from hub3_origin.trips where dispatched_at is not null order by trip_number limit 1);
           update hub6_corporate.fmcsa_authorities set status = 'I'
            where entity_code = 'OH' and authority_type = 'broker'""",
        {"trip_without_cab_card", "load_without_broker_authority"},
    ),
    "q6_2_expiring_soon": (
        f"""update hub6_corporate.credentials set expires_on = {AS_OF} + 10
             where (credential_type, jurisdiction, number, valid_from) = (
               select credential_type, jurisdiction, number, valid_from from hub6_corporate.credentials
                where valid_to is null and status = 'active' and (issued_on is null or issued_on <= {AS_OF} + 10)
                order by credential_type, jurisdiction, number limit 1)""",
        {"credential_expires_soon"},
    ),
    "q6_3_filings": (
        """update hub6_corporate.regulatory_filings set status = 'rejected' where filing_type = 'BOC-3';
           update hub6_corporate.regulatory_filings set status = 'rejected' where filing_type = 'IFTA_QUARTERLY'""",
        {"missing_boc3", "missing_ifta_return"},
    ),
    "q6_4_insurance_minimums": (
        """alter table hub6_corporate.insurance_policies drop constraint insurance_policies_liability_minimum;
           update hub6_corporate.insurance_policies set per_occurrence_limit = 500000
            where (insurer_party_id, policy_number, valid_from) = (
              select insurer_party_id, policy_number, valid_from from hub6_corporate.insurance_policies
               where coverage = 'auto_liability' order by insurer_party_id, policy_number, valid_from limit 1);
           update hub6_corporate.insurance_policies set cancelled_on = valid_from::date
            where coverage = 'broker_bond'""",
        {"liability_below_minimum", "no_current_broker_bond"},
    ),
    "q6_5_ifta_consistency": (
        f"""update hub6_corporate.ifta_jurisdiction_lines set taxable_gallons = taxable_gallons + 5,
                   filing_id = (select filing_id from hub6_corporate.regulatory_filings
                                 where filing_type <> 'IFTA_QUARTERLY' order by filing_id limit 1)
             where ({IFTA_LINE_KEY}) = (
               select {IFTA_LINE_KEY} from hub6_corporate.ifta_jurisdiction_lines order by {IFTA_LINE_KEY} limit 1);
            update hub6_corporate.ifta_jurisdiction_lines set fleet_mpg = 12
             where ({IFTA_LINE_KEY}) = (
               select {IFTA_LINE_KEY} from hub6_corporate.ifta_jurisdiction_lines
                order by ifta_license desc, tax_year desc, quarter desc, jurisdiction desc, fuel_type desc limit 1)""",
        {"taxable_gallons_mismatch", "wrong_filing", "mpg_out_of_range"},
    ),
}


@pytest.mark.parametrize("test", VALIDATIONS)
def test_validation_fails_on_data_built_to_break_it(db: str, test: str) -> None:
    statements, expected_problems = BREAKERS[test]
    # (each passes on this data: test_all_validations_pass_on_generated_data, on the same template)
    execute(db, statements)
    result = run_dbt(["test", "--select", test], db)
    assert dbt_failed(result, test), result.stdout[-3000:]
    assert expected_problems <= problems(db, test)

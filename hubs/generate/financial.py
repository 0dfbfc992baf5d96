"""Hub 5, financial: the books that the operations imply.

OpenHaul invoices each delivered load and owes its carrier; Origin invoices each delivered
trip (OpenHaul, when the trip hauls an OpenHaul load: an intercompany pair, mirrored on both
sides and eliminated at month end) and factors part of the rest; Origin Equipment Leasing
leases tractors to Origin monthly. Customers pay within their terms (a few partly or not at
all, a few in dispute); amounts are kept in cents so every balance reconciles exactly.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, time, timedelta

from hubs.generate.common import END, START, iso, stable_uuid
from hubs.generate.openhaul import OpenHaulBrokerage
from hubs.generate.origin import OriginFleet
from hubs.generate.spool import Spool
from hubs.generate.world import GROUP, LegalEntity, World

CHART = [  # (number, name, type, category, cash flow)
    ("1000", "Operating cash", "asset", "cash", "operating"),
    ("1100", "Accounts receivable", "asset", "receivables", "operating"),
    ("1150", "Factoring reserve", "asset", "receivables", "operating"),
    ("1300", "Due from affiliates", "asset", "intercompany", "operating"),
    ("1500", "Revenue equipment", "asset", "fixed_assets", "investing"),
    ("2000", "Accounts payable", "liability", "payables", "operating"),
    ("2100", "Accrued liabilities", "liability", "accruals", "operating"),
    ("2300", "Due to affiliates", "liability", "intercompany", "operating"),
    ("2500", "Equipment notes payable", "liability", "debt", "financing"),
    ("3000", "Members' equity", "equity", "equity", "financing"),
    ("3100", "Retained earnings", "equity", "equity", "financing"),
    ("4000", "Freight revenue", "revenue", "revenue:linehaul", "operating"),
    ("4100", "Accessorial revenue", "revenue", "revenue:accessorial", "operating"),
    ("4200", "Fuel surcharge revenue", "revenue", "revenue:fuel_surcharge", "operating"),
    ("4500", "Equipment lease revenue", "revenue", "revenue:lease", "operating"),
    ("5000", "Purchased transportation", "expense", "expense:carriers", "operating"),
    ("5100", "Fuel", "expense", "expense:fuel", "operating"),
    ("5200", "Repairs and maintenance", "expense", "expense:maintenance", "operating"),
    ("5300", "Insurance", "expense", "expense:insurance", "operating"),
    ("5400", "Licenses and permits", "expense", "expense:licenses", "operating"),
    ("5600", "Equipment lease expense", "expense", "expense:lease", "operating"),
    ("6100", "Factoring fees", "expense", "expense:factoring", "operating"),
]
FACTOR = "Prairie Capital Factoring LLC"
FUEL_CARD = "EFS Fleet Services"
LEASE_PER_UNIT_CENTS = 210_000


def cents(text: str | float) -> int:
    return round(float(text or 0) * 100)


def dollars(amount: int) -> str:
    return f"{amount / 100:.2f}"


# appended once, read in order: kept on disk (invoices and bills change after they are written)
SPOOLED = {"payments", "invoice_load_matches"}


class Books:
    def __init__(self, rng: random.Random, world: World, openhaul: OpenHaulBrokerage, origin: OriginFleet) -> None:
        self.rng = rng
        self.world = world
        self.openhaul = openhaul
        self.origin = origin
        self.entities = {e.code: e for e in GROUP}
        self.rows: dict[str, list[dict] | Spool] = {
            name: Spool() if name in SPOOLED else []
            for name in (
                "legal_entities",
                "gl_accounts",
                "ar_invoices",
                "ap_bills",
                "payments",
                "invoice_load_matches",
                "intercompany_txns",
                "factoring_assignments",
            )
        }
        self._n: dict[str, int] = {}
        self.factor = world.organization(FACTOR, ["factor"], START - timedelta(days=900))
        self.fuel_card = world.organization(FUEL_CARD, ["vendor"], START - timedelta(days=2000))

    def _number(self, entity: str, on: date) -> str:
        key = f"{entity}{on.year}"
        self._n[key] = self._n.get(key, 0) + 1
        return f"{entity}{on.year}{self._n[key]:06d}"

    def party(self, code: str) -> str:
        return self.entities[code].party_id

    # -- ledgers -----------------------------------------------------------------------------------

    def legal_entity_rows(self) -> None:
        for e in GROUP:
            self.rows["legal_entities"].append(
                {
                    "entity_code": e.code,
                    "party_id": e.party_id,
                    "legal_name": e.name,
                    "dba_name": e.name.replace(" LLC", ""),
                    "ein": e.ein,
                    "entity_type": "LLC",
                    "formation_state": "OK",
                    "formed_on": iso(e.formed_on),
                    "sos_file_number": f"{3500000000 + GROUP.index(e) * 7919}",
                    "registered_agent": "Tulsa Registered Agents Inc",
                    "usdot_number": e.usdot or "",
                    "mc_docket": e.mc or "",
                    "scac": e.scac or "",
                    "is_group_member": "true",
                    "operating_role": e.role,
                    "fiscal_year_end": "12-31",
                    "accounting_method": "accrual",
                    "functional_currency": "USD",
                    "ifta_license": "OK-IFTA-2849315" if e.code == "OT" else "",
                    "irp_account": "OK-IRP-55120" if e.code == "OT" else "",
                    "status": "active",
                    "dissolved_on": "",
                }
            )

    def chart_rows(self) -> None:
        for e in GROUP:
            for number, name, kind, category, flow in CHART:
                self.rows["gl_accounts"].append(self._account(e, number, name, kind, category, flow, None, None))
            for i, other in enumerate(o for o in GROUP if o.code != e.code):
                self.rows["gl_accounts"].append(
                    self._account(
                        e,
                        f"13{i + 1}0",
                        f"Due from {other.code}",
                        "asset",
                        "intercompany",
                        "operating",
                        other.code,
                        "1300",
                    )
                )
                self.rows["gl_accounts"].append(
                    self._account(
                        e,
                        f"23{i + 1}0",
                        f"Due to {other.code}",
                        "liability",
                        "intercompany",
                        "operating",
                        other.code,
                        "2300",
                    )
                )

    @staticmethod
    def _account(
        e: LegalEntity,
        number: str,
        name: str,
        kind: str,
        category: str,
        flow: str,
        counterparty: str | None,
        parent: str | None,
    ) -> dict:
        return {
            "entity_code": e.code,
            "account_number": number,
            "name": name,
            "account_type": kind,
            "normal_balance": "debit" if kind in ("asset", "expense") else "credit",
            "category": category,
            "is_intercompany": str(counterparty is not None).lower(),
            "counterparty_entity": counterparty or "",
            "parent_account_number": parent or "",
            "cash_flow_class": flow,
            "tax_line": "",
            "active": "true",
            "opened_on": iso(e.formed_on),
            "description": "",
        }

    # -- documents ---------------------------------------------------------------------------------

    def invoice(
        self,
        entity: str,
        bill_to: str,
        on: date,
        terms: int,
        subtotal: int,
        accessorials: int,
        fuel: int,
        gl: str,
        intercompany: bool,
        memo: str,
        bol: str = "",
    ) -> dict:
        row = {
            "entity_code": entity,
            "invoice_number": self._number(entity, on),
            "bill_to_party_id": bill_to,
            "invoice_date": iso(on),
            "due_date": iso(on + timedelta(days=terms)),
            "terms_days": terms,
            "subtotal": dollars(subtotal),
            "accessorials": dollars(accessorials),
            "fuel_surcharge": dollars(fuel),
            "tax": "0.00",
            "balance_due": "",
            "status": "sent",
            "is_intercompany": str(intercompany).lower(),
            "factored": "false",
            "currency": "USD",
            "po_number": "",
            "bol_number": bol,
            "gl_account_number": gl,
            "edi_210_sent_at": "",
            "paid_at": "",
            "dispute_reason": "",
            "memo": memo,
            "_total": subtotal + accessorials + fuel,
        }
        self.rows["ar_invoices"].append(row)
        return row

    def bill(
        self,
        entity: str,
        vendor: str,
        number: str,
        on: date,
        amount: int,
        gl: str,
        source: str,
        key: str,
        intercompany: bool,
    ) -> dict:
        row = {
            "entity_code": entity,
            "vendor_party_id": vendor,
            "vendor_invoice_number": number,
            "bill_date": iso(on),
            "due_date": iso(on + timedelta(days=30)),
            "received_at": iso(datetime.combine(on, time(10), tzinfo=UTC)),
            "amount": dollars(amount),
            "gl_account_number": gl,
            "status": "approved",
            "source_type": source,
            "source_key": key,
            "quick_pay": "false",
            "quick_pay_fee_pct": "",
            "is_intercompany": str(intercompany).lower(),
            "approved_by": "priya",
            "paid_on": "",
            "payment_method": "",
            "currency": "USD",
            "memo": "",
        }
        self.rows["ap_bills"].append(row)
        return row

    def pay_invoice(
        self, inv: dict, payer: str, share: float, method: str, on: date, fee: int = 0, intercompany: bool = False
    ) -> None:
        total = inv["_total"]
        applied = total if share >= 1 else round(total * share)
        self.rows["payments"].append(
            {
                "payment_id": stable_uuid("payment", inv["entity_code"], inv["invoice_number"], method),
                "entity_code": inv["entity_code"],
                "direction": "inbound",
                "counterparty_party_id": payer,
                "method": method,
                "amount": dollars(applied),
                "fee_amount": dollars(fee),
                "paid_on": iso(on),
                "cleared_on": iso(on + timedelta(days=1)),
                "reference": f"ACH{self.rng.randint(10**9, 10**10 - 1)}",
                "applications": json.dumps(
                    [
                        {
                            "doc_type": "ar_invoice",
                            "entity_code": inv["entity_code"],
                            "invoice_number": inv["invoice_number"],
                            "amount": applied / 100,
                        }
                    ]
                ),
                "is_intercompany": str(intercompany).lower(),
                "bank_account_last4": "4410",
                "currency": "USD",
                "memo": f"Invoice {inv['invoice_number']}",
            }
        )
        inv["balance_due"] = dollars(total - applied)
        inv["status"] = "paid" if applied == total else "partially_paid"
        inv["paid_at"] = iso(datetime.combine(on, time(16), tzinfo=UTC)) if applied == total else ""

    def pay_bill(self, bill: dict, on: date, method: str) -> None:
        amount = cents(bill["amount"])
        self.rows["payments"].append(
            {
                "payment_id": stable_uuid(
                    "payment", bill["entity_code"], bill["vendor_party_id"], bill["vendor_invoice_number"]
                ),
                "entity_code": bill["entity_code"],
                "direction": "outbound",
                "counterparty_party_id": bill["vendor_party_id"],
                "method": method,
                "amount": bill["amount"],
                "fee_amount": "0.00",
                "paid_on": iso(on),
                "cleared_on": iso(on + timedelta(days=1)),
                "reference": f"PAY{self.rng.randint(10**8, 10**9 - 1)}",
                "applications": json.dumps(
                    [
                        {
                            "doc_type": "ap_bill",
                            "entity_code": bill["entity_code"],
                            "vendor_party_id": bill["vendor_party_id"],
                            "vendor_invoice_number": bill["vendor_invoice_number"],
                            "amount": amount / 100,
                        }
                    ]
                ),
                "is_intercompany": bill["is_intercompany"],
                "bank_account_last4": "4410",
                "currency": "USD",
                "memo": "",
            }
        )
        bill.update(status="paid", paid_on=iso(on), payment_method=method)

    def settle(self, inv: dict, payer: str, terms: int, intercompany: bool = False) -> None:
        """Customers pay within their terms; a few pay part, a few dispute, recent ones are open."""
        on = date.fromisoformat(inv["invoice_date"]) + timedelta(days=max(3, terms + self.rng.randint(-10, 12)))
        roll = self.rng.random()
        inv["balance_due"] = dollars(inv["_total"])
        if on > END.date():
            return
        if not intercompany and roll < 0.01:
            inv.update(status="disputed", dispute_reason="Customer disputes detention and lumper charges")
            return
        share = self.rng.uniform(0.6, 0.9) if not intercompany and roll < 0.04 else 1.0
        self.pay_invoice(
            inv,
            payer,
            share,
            "offset" if intercompany else self.rng.choice(["ach", "ach", "check", "wire"]),
            on,
            intercompany=intercompany,
        )

    def match(self, inv: dict, ref_type: str, ref: str, expected: int) -> None:
        self.rows["invoice_load_matches"].append(
            {
                "entity_code": inv["entity_code"],
                "invoice_number": inv["invoice_number"],
                "load_ref_type": ref_type,
                "load_ref": ref,
                "expected_amount": dollars(expected),
                "matched_amount": dollars(expected),
                "match_status": "matched",
                "matched_by": "auto",
                "matched_at": inv["invoice_date"] + "T18:00:00+00:00",
                "pod_received": "true",
                "notes": "",
            }
        )

    def intercompany(
        self,
        inv: dict,
        bill: dict,
        kind: str,
        from_entity: str,
        to_entity: str,
        on: date,
        load_ref: str = "",
        trip_ref: str = "",
    ) -> None:
        month_end = (on.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        closed = month_end + timedelta(days=10)
        self.rows["intercompany_txns"].append(
            {
                "ic_txn_id": stable_uuid("ic", inv["entity_code"], inv["invoice_number"]),
                "from_entity": from_entity,
                "to_entity": to_entity,
                "txn_date": iso(on),
                "period": f"{on:%Y-%m}",
                "kind": kind,
                "amount": dollars(inv["_total"]),
                "ar_invoice_number": inv["invoice_number"],
                "ap_vendor_invoice_number": bill["vendor_invoice_number"],
                "load_ref": load_ref,
                "trip_ref": trip_ref,
                "elimination_status": "eliminated" if closed < END.date() else "matched",
                "eliminated_on": iso(closed) if closed < END.date() else "",
                "description": f"{kind.replace('_', ' ')} {load_ref or trip_ref}".strip(),
            }
        )

    # -- the year's business -----------------------------------------------------------------------

    def simulate(self) -> Books:
        self.legal_entity_rows()
        self.chart_rows()
        self.brokerage()
        self.fleet()
        self.leases()
        return self

    def brokerage(self) -> None:
        for load in self.openhaul.loads:
            if load["status"] != "delivered":
                continue
            customer = load["_customer"]
            pod = datetime.fromisoformat(load["pod_received_at"]).date()
            inv = self.invoice(
                "OH",
                customer["party_id"],
                pod,
                int(customer["payment_terms_days"]),
                cents(load["customer_rate"]),
                cents(load["customer_accessorials"]),
                0,
                "4000",
                False,
                f"Load {load['load_number']}",
                load["bol_number"],
            )
            self.match(inv, "openhaul_load", load["load_number"], inv["_total"])
            self.settle(inv, customer["party_id"], int(customer["payment_terms_days"]))
            carrier = load["_carrier"]
            if carrier.group:
                continue  # Origin's side of the pair is written with its trip
            received = datetime.fromisoformat(load["carrier_bill_received_at"]).date()
            bill = self.bill(
                "OH",
                carrier.party,
                f"{carrier.usdot}-{load['load_number'][3:]}",
                received,
                cents(load["carrier_rate"]) + cents(load["carrier_accessorials"]),
                "5000",
                "load",
                load["load_number"],
                False,
            )
            if received + timedelta(days=30) < END.date():
                self.pay_bill(bill, received + timedelta(days=self.rng.randint(2, 30)), "ach")

    def fleet(self) -> None:
        oh_loads = {load["load_number"]: load for load in self.openhaul.loads}
        for trip in self.origin.trips:
            if trip["status"] != "delivered":
                continue
            on = datetime.fromisoformat(trip["delivered_at"]).date() + timedelta(days=1)
            intercompany = bool(trip["openhaul_load_number"])
            terms = 15 if intercompany else 30
            inv = self.invoice(
                "OT",
                trip["bill_to_party_id"],
                on,
                terms,
                cents(trip["revenue"]),
                0,
                cents(trip["fuel_surcharge"]),
                "4000",
                intercompany,
                f"Trip {trip['trip_number']}",
                trip["bol_number"],
            )
            self.match(inv, "origin_trip", trip["trip_number"], inv["_total"])
            if intercompany:
                load = oh_loads[trip["openhaul_load_number"]]
                bill = self.bill(
                    "OH",
                    self.party("OT"),
                    inv["invoice_number"],
                    on,
                    inv["_total"],
                    "5000",
                    "load",
                    load["load_number"],
                    True,
                )
                self.intercompany(inv, bill, "brokered_haul", "OT", "OH", on, load["load_number"], trip["trip_number"])
                self.settle(inv, self.party("OH"), terms, intercompany=True)
                if inv["status"] == "paid":
                    bill.update(status="paid", paid_on=inv["paid_at"][:10], payment_method="offset")
            elif self.rng.random() < 0.12:
                self.factor_invoice(inv, on)
            else:
                self.settle(inv, trip["bill_to_party_id"], terms)
        for order in self.origin.rows["maintenance_orders"]:
            if order["vendor_party_id"] and order["status"] == "done":
                closed = datetime.fromisoformat(order["closed_at"]).date()
                amount = cents(order["labor_cost"]) + cents(order["parts_cost"])
                bill = self.bill(
                    "OT",
                    order["vendor_party_id"],
                    f"W{order['ro_number'][3:]}",
                    closed,
                    amount,
                    "5200",
                    "repair_order",
                    order["ro_number"],
                    False,
                )
                if closed + timedelta(days=30) < END.date():
                    self.pay_bill(bill, closed + timedelta(days=self.rng.randint(5, 30)), "ach")
        weekly: dict[date, int] = {}
        for txn in self.origin.rows["fuel_transactions"]:
            day = datetime.fromisoformat(txn["transacted_at"]).date()
            monday = day - timedelta(days=day.weekday())
            weekly[monday] = weekly.get(monday, 0) + cents(txn["total_amount"])
        for monday, amount in sorted(weekly.items()):
            statement = monday + timedelta(days=7)
            bill = self.bill(
                "OT",
                self.fuel_card.party_id,
                f"EFS{monday:%Y%m%d}",
                statement,
                amount,
                "5100",
                "fuel",
                f"week of {monday}",
                False,
            )
            if statement + timedelta(days=7) < END.date():
                self.pay_bill(bill, statement + timedelta(days=3), "ach")

    def factor_invoice(self, inv: dict, on: date) -> None:
        inv["factored"] = "true"
        total = inv["_total"]
        fee = round(total * 0.025)
        collected = on + timedelta(days=self.rng.randint(20, 45))
        done = collected <= END.date()
        self.rows["factoring_assignments"].append(
            {
                "factor_party_id": self.factor.party_id,
                "schedule_number": f"S{on:%Y%W}",
                "entity_code": inv["entity_code"],
                "invoice_number": inv["invoice_number"],
                "submitted_on": iso(on),
                "face_amount": dollars(total),
                "advance_rate": "0.9000",
                "fee_pct": "0.0250",
                "recourse": "true",
                "recourse_deadline": iso(on + timedelta(days=90)),
                "noa_on_file": "true",
                "status": "collected" if done else "funded",
                "funded_on": iso(on + timedelta(days=1)),
                "collected_on": iso(collected) if done else "",
            }
        )
        inv["balance_due"] = dollars(total)
        if done:
            self.pay_invoice(inv, self.factor.party_id, 1.0, "factor_remit", collected, fee=fee)

    def leases(self) -> None:
        units = [t for t in self.origin.tractors if t.owner == "OEL"]
        month = date(START.year, START.month, 1)
        while month < END.date():
            amount = LEASE_PER_UNIT_CENTS * max(1, len(units))
            inv = self.invoice(
                "OEL",
                self.party("OT"),
                month,
                15,
                amount,
                0,
                0,
                "4500",
                True,
                f"Tractor lease {month:%B %Y}, {len(units)} units",
            )
            bill = self.bill(
                "OT",
                self.party("OEL"),
                inv["invoice_number"],
                month,
                amount,
                "5600",
                "trip",
                f"lease {month:%Y-%m}",
                True,
            )
            self.intercompany(inv, bill, "equipment_lease", "OEL", "OT", month)
            self.settle(inv, self.party("OT"), 15, intercompany=True)
            if inv["status"] == "paid":
                bill.update(status="paid", paid_on=inv["paid_at"][:10], payment_method="offset")
            month = (month + timedelta(days=32)).replace(day=1)

    def rows_by_table(self) -> dict[str, list[dict] | Spool]:
        for inv in self.rows["ar_invoices"]:
            inv.pop("_total", None)
        return self.rows

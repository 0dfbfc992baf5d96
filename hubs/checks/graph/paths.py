"""Cross-hub navigation (G7): known paths walked in the graph give PostgreSQL's answers."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg2 import sql

from hubs.checks.base import CheckContext, CheckOutcome, check
from hubs.checks.graph.reading import (
    PATH_SAMPLE,
    as_instant,
    quoted,
)

# -- G7 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    name: str
    #: SQL over the catalog's tables ({model} placeholders) with columns key, answer, valid_from and
    #: valid_to: the path's answers from each start key, with the interval of the time-bound hop
    answer_sql: str
    #: Cypher from the start keys in $keys returning the same four columns
    answer_cypher: str


_PATHS = (
    Path(
        "Load -> Carrier -> Party -> Address",
        "select l.load_number::text as key, pa.address_id::text as answer, pa.valid_from, pa.valid_to"
        " from {loads} l join {carriers} c on c.usdot_number = l.carrier_usdot"
        " join {party_addresses} pa on pa.party_id = c.party_id",
        "UNWIND $keys AS k MATCH (:Load {key: k})-[:COVERED_BY]->(:Carrier)-[:IS]->(:Party)"
        "-[r:LOCATED_AT]->(a:Address) RETURN k, a.key, r.valid_from, r.valid_to",
    ),
    Path(
        "Tractor -> current Driver -> Party",
        "select da.unit_number::text as key, da.driver_code || '|' || d.party_id::text as answer,"
        " da.valid_from, da.valid_to"
        " from {driver_assignments} da join {drivers} d on d.driver_code = da.driver_code",
        "UNWIND $keys AS k MATCH (:Tractor {key: k})<-[r:DROVE]-(d:Driver)-[:IS]->(p:Party)"
        " RETURN k, d.key + '|' + p.key, r.valid_from, r.valid_to",
    ),
    Path(
        # The design's own names (its Tractor entry): a load's tractor and who drives it now.
        "Load -ASSIGNED_UNIT-> Tractor -ASSIGNED_TO-> current Driver",
        "select t.openhaul_load_number::text as key, da.driver_code::text as answer, da.valid_from, da.valid_to"
        " from {trips} t join {driver_assignments} da on da.unit_number = t.unit_number"
        " where t.openhaul_load_number is not null",
        "UNWIND $keys AS k MATCH (:Load {key: k})-[:ASSIGNED_UNIT]->(:Tractor)-[r:ASSIGNED_TO]->(d:Driver)"
        " RETURN k, d.key, r.valid_from, r.valid_to",
    ),
    Path(
        "Person 'G' -> Party -OWNS-> LegalEntity",
        "select p.person_id::text as key, os.entity_code::text as answer, os.valid_from, os.valid_to"
        " from {persons} p join {ownership_stakes} os on os.owner_party_id = p.party_id where p.is_owner",
        "UNWIND $keys AS k MATCH (:Person {key: k})-[:IS]->(:Party)-[r:OWNS]->(e:LegalEntity)"
        " RETURN k, e.key, r.valid_from, r.valid_to",
    ),
)


def _current(now: datetime, valid_from: Any, valid_to: Any) -> bool:
    begins, ends = as_instant(valid_from), as_instant(valid_to)
    return begins is not None and begins <= now and (ends is None or ends > now)


def _answers(rows: Iterable[Iterable[Any]], now: datetime) -> dict[str, set[str]]:
    """Current answers per start key (the time-bound hop holds now)."""
    found: dict[str, set[str]] = defaultdict(set)
    for key, answer, valid_from, valid_to in rows:
        if _current(now, valid_from, valid_to):
            found[str(key)].add(str(answer))
    return found


@check("graph", "G7_cross_hub_navigation")
def cross_hub_navigation(ctx: CheckContext) -> CheckOutcome:
    """Cross-hub paths (Load -> Carrier -> Party -> Address; Tractor -> current Driver -> Party;
    Load -ASSIGNED_UNIT-> Tractor -ASSIGNED_TO-> Driver; Person 'G' -> Party -OWNS-> LegalEntity)
    answer in the graph as in PostgreSQL for known keys."""
    tables = {e.model: sql.Identifier(e.schema, e.table) for e in ctx.catalog.entities}
    now = datetime.now(UTC)
    problems, checked, unasked = [], 0, []
    for path in _PATHS:
        answers = sql.SQL(path.answer_sql).format(**tables)
        # known keys: start keys from which PostgreSQL says the path leads somewhere now
        known = sql.SQL(
            "select key from ({}) as q where valid_from <= %(now)s and (valid_to is null or valid_to > %(now)s)"
            " group by key order by random() limit %(n)s"
        ).format(answers)
        keys = [k for (k,) in ctx.sql(known, {"now": now, "n": PATH_SAMPLE})]
        truth = _answers(
            ctx.sql(sql.SQL("select * from ({}) as q where key = any(%(keys)s)").format(answers), {"keys": keys}), now
        )
        found = _answers(ctx.graph.run(path.answer_cypher, {"keys": keys}), now)
        checked += len(keys)
        if not keys:
            # Each path is its own question: one without a start key went unasked however many
            # the others had.
            unasked.append(f"{path.name}: PostgreSQL has no start key from which the path leads anywhere now")
        for key in keys:
            if found.get(key, set()) != truth[key]:
                problems.append(
                    f"{path.name} from {key}: the graph answers {quoted(sorted(found.get(key, set()))) or 'nothing'}"
                    f" but PostgreSQL {quoted(sorted(truth[key]))}"
                )
    return CheckOutcome.from_problems(
        "G7_cross_hub_navigation",
        problems,
        f"{len(_PATHS)} paths from {checked} known keys",
        unasked,
        keys=checked,
        asked=checked,
        paths_unasked=len(unasked),
    )

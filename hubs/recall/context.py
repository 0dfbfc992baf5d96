"""Context: what the memory holds about one entity, as one block of text for an LLM prompt, never
longer than the characters asked for.

The block is made of sections, most important first: the record's current facts, what it is
related to (one hop in the graph, intervals valid now), its recent changes, and the text of the
related documents (neighbours whose entity the vectors hold: notes, decisions, insights). Each
section is given an equal share of what is left when its turn comes, so one long section never
crowds out the others, and what a section had to leave out is said in it ("... 12 more"). Every
section keeps the provenance of the answer it was written from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hubs.catalog import Catalog, Entity
from hubs.recall.model import Changes, Neighbours, Provenance, Record

MIN_CHARS = 200
MAX_CHARS = 100_000
DEFAULT_CHARS = 4000
RECENT_CHANGES = 5
NEIGHBOURS = 50  # relationships read for the Related and Documents sections
DOCUMENT_CHARS = 300  # of one related document's text
VALUE_CHARS = 120  # of one fact's value


@dataclass(frozen=True)
class Section:
    title: str
    lines: list[str]
    provenance: Provenance


def _short(value: Any, width: int) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def facts(record: Record, entity: Entity) -> Section:
    """The record's values in the catalog's column order (the cache and PostgreSQL hand them over
    in orders of their own: the same record must give the same text)."""
    order = {c.name: i for i, c in enumerate(entity.columns)}
    names = sorted(record.values, key=lambda name: (order.get(name, len(order)), name))
    lines = [f"{name}: {_short(record.values[name], VALUE_CHARS)}" for name in names]
    return Section("Facts", lines, record.provenance)


def related(answer: Neighbours) -> Section:
    """One line per relationship, from the asked node's side, its interval when it has one."""
    names = {n.ref: n for n in answer.nodes}
    lines = []
    for relation in answer.relationships:
        outgoing = relation.start == answer.start.ref
        other = relation.end if outgoing else relation.start
        arrow = f"-[{relation.type}]->" if outgoing else f"<-[{relation.type}]-"
        since, until = relation.properties.get("valid_from"), relation.properties.get("valid_to")
        during = f" ({since} to {until or 'now'})" if since else ""
        node = names.get(other)
        title = next((str(v) for k, v in (node.properties.items() if node else ()) if k in ("name", "title")), "")
        lines.append(f"{arrow} {other.label} {other.key}{' ' + _short(title, 60) if title else ''}{during}")
    if answer.truncated:
        lines.append("(more relationships than the limit: ask neighbours with filters)")
    return Section("Related", lines, answer.provenance)


def changed(answer: Changes) -> Section:
    """The last few changes, newest first, with the columns each changed."""
    lines = []
    for change in reversed(answer.changes[-RECENT_CHANGES:]):
        at = change.get("at")
        when = at.isoformat() if hasattr(at, "isoformat") else (at or f"landing {change.get('seq')}")
        if change["kind"] == "changed":
            before, after = change.get("before") or {}, change.get("after") or {}
            what = "; ".join(f"{c}: {_short(before.get(c), 40)} -> {_short(after.get(c), 40)}" for c in sorted(after))
            lines.append(f"{when}: changed {what}")
        else:
            lines.append(f"{when}: {change['kind']}")
    if len(answer.changes) > RECENT_CHANGES:
        lines.append(f"({len(answer.changes) - RECENT_CHANGES} earlier changes)")
    return Section("Recent changes", lines, answer.provenance)


def documents(answer: Neighbours, catalog: Catalog) -> Section:
    """The text the vectors hold of each related node that has any (its declared text columns)."""
    by_label = {e.label: e for e in catalog.entities}
    lines = []
    for node in answer.nodes:
        entity = by_label.get(node.label)
        if entity is None or entity.vectors is None:
            continue
        text = " / ".join(str(node.properties[c]) for c in entity.vectors.text if node.properties.get(c))
        if text:
            lines.append(f"{node.label} {node.key}: {_short(text, DOCUMENT_CHARS)}")
    return Section("Documents", lines, answer.provenance)


def _fit(section: Section, budget: int) -> tuple[list[str], int]:
    """The section's title and as many of its lines as fit in `budget` characters, with a note of
    how many were left out; the lines and how many of the section's lines they hold."""
    out = [f"## {section.title}"]
    used = len(out[0]) + 1
    if not section.lines:
        out.append("(none)")
        return (out, 0) if used + 7 <= budget else ([], 0)
    kept = 0
    for line in section.lines:
        left_after = len(section.lines) - kept - 1
        note = f"... {left_after} more" if left_after else ""
        if used + len(line) + 1 + (len(note) + 1 if note else 0) > budget:
            break
        out.append(line)
        used += len(line) + 1
        kept += 1
    if kept < len(section.lines):
        note = f"... {len(section.lines) - kept} more"
        if used + len(note) + 1 <= budget:
            out.append(note)
        elif kept == 0:
            return [], 0
    return out, kept


def render(header: str, sections: Iterable[Section], cap: int) -> tuple[str, dict[str, int], bool]:
    """The block (at most `cap` characters), how many lines of each section it holds, and whether
    anything was left out."""
    header = _short(header, cap)
    parts, held, cut = [header], {}, False
    left = cap - len(header)
    pending = list(sections)
    while pending:
        section = pending.pop(0)
        share = left // (len(pending) + 1)
        lines, kept = _fit(section, share - 1)  # the newline that joins it to the block
        held[section.title] = kept
        cut |= kept < len(section.lines)
        if lines:
            block = "\n".join(lines)
            parts.append(block)
            left -= len(block) + 1
    text = "\n".join(parts)
    return text, held, cut

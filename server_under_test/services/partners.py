"""Partners (the recipients' contact records) and their categories."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from ..storage.tables import partner, partner_category, partner_category_rel
from .context import Context
from .dbutil import chunks
from .numbers import to_e164
from .odoo_domain import compile_domain, parse_domain

__all__ = ["filter_accepts", "import_partners", "partners_by_number"]


def _category_ids(conn: Connection, names: set[str]) -> dict[str, int]:
    """Ids of the named categories, creating the missing ones."""
    query = select(partner_category.c.name, partner_category.c.id).where(
        partner_category.c.name.in_(sorted(names))
    )
    found: dict[str, int] = {name: cid for name, cid in conn.execute(query)}
    missing = sorted(names - found.keys())
    if missing:
        conn.execute(insert(partner_category), [{"name": n} for n in missing])
        found = {name: cid for name, cid in conn.execute(query)}
    return found


def import_partners(conn: Connection, ctx: Context, items: Sequence[dict[str, Any]]) -> list[int]:
    """Insert partners (with category names) in bulk; returns their ids in input order."""
    region = ctx.settings.default_region
    now = ctx.now()
    names = {c for item in items for c in item.get("categories", ())}
    cat_ids = _category_ids(conn, names) if names else {}
    rows = []
    for item in items:
        row = {k: v for k, v in item.items() if k != "categories"}
        row["phone_e164"] = to_e164(row.get("phone"), row.get("country_code") or region)
        row["mobile_e164"] = to_e164(row.get("mobile"), row.get("country_code") or region)
        row.setdefault("create_date", now)
        if row["create_date"] is None:
            row["create_date"] = now
        rows.append(row)
    ids: list[int] = []
    for part in chunks(rows):
        ids.extend(
            conn.execute(
                insert(partner).returning(partner.c.id, sort_by_parameter_order=True), list(part)
            ).scalars()
        )
    links = [
        {"partner_id": pid, "category_id": cat_ids[name]}
        for pid, item in zip(ids, items, strict=True)
        for name in sorted(set(item.get("categories", ())))
    ]
    for part in chunks(links):
        conn.execute(insert(partner_category_rel), list(part))
    return ids


def partners_by_number(conn: Connection, numbers: Sequence[str]) -> dict[str, int]:
    """Lowest partner id whose mobile or phone (E.164) equals each number."""
    found: dict[str, int] = {}
    wanted = sorted(set(numbers))
    for part in chunks(wanted):
        for column in (partner.c.mobile_e164, partner.c.phone_e164):
            for pid, number in conn.execute(
                select(partner.c.id, column).where(column.in_(part)).order_by(partner.c.id)
            ):
                if number not in found or pid < found[number]:
                    found[number] = pid
    return found


def filter_accepts(conn: Connection, domain_filter: str, partner_ids: Sequence[int]) -> set[int]:
    """The partners among ``partner_ids`` that a phone's partner domain filter accepts."""
    condition = compile_domain(parse_domain(domain_filter))
    accepted: set[int] = set()
    for part in chunks(sorted(partner_ids)):
        accepted.update(
            conn.execute(select(partner.c.id).where(partner.c.id.in_(part), condition)).scalars()
        )
    return accepted

"""Odoo domain filters: parsing, Odoo semantics on SQLite and PostgreSQL, error messages."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select

from server_under_test.errors import InvalidDomain
from server_under_test.services import odoo_domain
from server_under_test.services.odoo_domain import (
    FALSE,
    TRUE,
    And,
    Leaf,
    Not,
    Or,
    compile_domain,
    format_domain,
    parse_domain,
    validate_domain,
)
from server_under_test.storage.database import Database
from server_under_test.storage.tables import (
    blacklist,
    partner,
    partner_category,
    partner_category_rel,
)

VIP, SHOP = 10, 20

# name: (id, phone, phone_e164, mobile, mobile_e164, email, country code/name,
#        region/code, is_company, customer_rank, create_date, categories)
PARTNERS: dict[str, tuple[Any, ...]] = {
    "Alice": (1, "+420 601 111 111", "+420601111111", None, None, "alice@example.com",
              "CZ", "Czechia", "Praha", "PR", False, 1, datetime(2026, 1, 1, 9), [VIP]),
    "Bob": (2, None, None, "+420 602 222 222", "+420602222222", None,
            "CZ", "Czechia", "Brno", "JM", False, 0, datetime(2026, 1, 15, 12), [SHOP]),
    "Acme": (3, "+421 900 000 001", "+421900000001", None, None, "info@acme.example",
             "SK", "Slovakia", "Bratislava", "BA", True, 5,
             datetime(2025, 12, 31, 23, 59, 59, 500000), [VIP, SHOP]),
    "Novak": (4, None, None, "+420 603 333 333", "+420603333333", "novak@example.com",
              "CZ", "Czechia", "Praha", "PR", False, 2, datetime(2026, 2, 1), []),
    "Promo 50% Off": (5, None, None, None, None, "",
                      None, None, None, None, False, 0, datetime(2026, 1, 1), []),
    "Room 501": (6, "", None, None, None, "room@example.com",
                 "DE", "Germany", None, None, True, 3, datetime(2026, 1, 10, 8), [SHOP]),
    "Team a_b": (7, "+420 604 444 444", "+420604444444", None, None, None,
                 "CZ", "Czechia", "Praha", "PR", False, 0, datetime(2026, 1, 20), [VIP]),
    "Team axb": (8, "+420 605 555 555", "+420605555555", None, None, "TEAM@example.com",
                 "CZ", "Czechia", "Brno", "JM", False, 1, datetime(2026, 1, 25), []),
}  # fmt: skip
ALL = frozenset(PARTNERS)
BLACKLISTED = {"Bob", "Team axb"}  # Bob by mobile, Team axb by phone


def seed(conn: Connection) -> None:
    """Insert the categories, partners and blacklist used by every database test."""
    conn.execute(
        insert(partner_category), [{"id": VIP, "name": "VIP"}, {"id": SHOP, "name": "Praha-shop"}]
    )
    columns = ("id", "phone", "phone_e164", "mobile", "mobile_e164", "email", "country_code",
               "country_name", "region", "region_code", "is_company", "customer_rank",
               "create_date")  # fmt: skip
    for name, row in PARTNERS.items():
        conn.execute(insert(partner).values(name=name, **dict(zip(columns, row[:-1], strict=True))))
        for category in row[-1]:
            conn.execute(
                insert(partner_category_rel).values(partner_id=row[0], category_id=category)
            )
    created = datetime(2026, 1, 5)
    conn.execute(
        insert(blacklist),
        [
            {"number": "+420602222222", "reason": "STOP", "created_at": created},
            {"number": "+420605555555", "reason": "manual", "created_at": created},
            {"number": "+15550000000", "reason": None, "created_at": created},
        ],
    )


def matches(conn: Connection, source: Any, *, negate: bool = False) -> set[str]:
    """Names of the partners a domain (or its negation) selects."""
    domain = parse_domain(source)
    query = select(partner.c.name).where(compile_domain(Not(domain) if negate else domain))
    return set(conn.execute(query).scalars())


def check_table(db: Database, table: list[tuple[Any, set[str] | frozenset[str]]]) -> None:
    """Assert every domain of the table selects exactly its names.

    Also that its canonical text selects the same, and that its negation selects exactly
    the rest: no leaf may evaluate to SQL NULL, which would drop rows from both sides.
    """
    with db.begin() as conn:
        seed(conn)
        wrong = []
        for source, expected in table:
            got = matches(conn, source)
            again = matches(conn, validate_domain(source))
            rest = matches(conn, source, negate=True)
            if got != set(expected) or again != got or rest != ALL - got:
                wrong.append(
                    f"{source!r}: expected {sorted(expected)}, got {sorted(got)}"
                    f" (canonical text gave {sorted(again)}, negation {sorted(rest)})"
                )
        assert not wrong, f"{db.dialect}:\n" + "\n".join(wrong)


def test_scalar_operators(db: Database) -> None:
    check_table(db, [
        ([("id", "=", 3)], {"Acme"}),
        ([("id", "!=", 3)], ALL - {"Acme"}),
        ([("id", "<", 3)], {"Alice", "Bob"}),
        ([("id", "<=", 3)], {"Alice", "Bob", "Acme"}),
        ([("id", ">", 6)], {"Team a_b", "Team axb"}),
        ([("id", ">=", 6)], {"Room 501", "Team a_b", "Team axb"}),
        ([("id", "in", [1, 4, 99])], {"Alice", "Novak"}),
        ([("id", "in", (1, 4))], {"Alice", "Novak"}),
        ([("id", "in", 4)], {"Novak"}),
        ([("id", "not in", [1, 4])], ALL - {"Alice", "Novak"}),
        ([("id", "in", [])], set()),
        ([("id", "not in", [])], ALL),
        ([("name", "=", "Bob")], {"Bob"}),
        ([("name", "<", "B")], {"Alice", "Acme"}),
        ([("customer_rank", "in", [0, 5])], {"Bob", "Acme", "Promo 50% Off", "Team a_b"}),
        ([("customer_rank", ">=", 2)], {"Acme", "Novak", "Room 501"}),
        ([("is_company", "=", True)], {"Acme", "Room 501"}),
        ([("is_company", "=", False)], ALL - {"Acme", "Room 501"}),
        ([("is_company", "=", None)], ALL - {"Acme", "Room 501"}),
        ([("is_company", "!=", True)], ALL - {"Acme", "Room 501"}),
        ([("is_company", "in", [True])], {"Acme", "Room 501"}),
        ([("is_company", "not in", [True, False])], set()),
        ([("country_id.code", "!=", "CZ")], {"Acme", "Promo 50% Off", "Room 501"}),
        ([("country_id.name", "in", ["Slovakia", "Germany"])], {"Acme", "Room 501"}),
        ([("state_id.code", "=", "JM")], {"Bob", "Team axb"}),
        ([("state_id.code", "not in", ["PR"])],
         {"Bob", "Acme", "Promo 50% Off", "Room 501", "Team axb"}),
        ([("name", "==", "Bob")], {"Bob"}),
        ([("name", "<>", "Bob")], ALL - {"Bob"}),
        ([("name", "NOT IN", ["Bob"])], ALL - {"Bob"}),
    ])  # fmt: skip


def test_false_means_not_set_and_negation_includes_null(db: Database) -> None:
    no_email = {"Bob", "Promo 50% Off", "Team a_b"}  # NULL, '' and NULL
    check_table(db, [
        ([("email", "=", False)], no_email),
        ([("email", "=", None)], no_email),
        ([("email", "!=", False)], ALL - no_email),
        ([("email", "=", "alice@example.com")], {"Alice"}),
        ([("email", "!=", "alice@example.com")], ALL - {"Alice"}),
        (["!", ("email", "=", "alice@example.com")], ALL - {"Alice"}),
        ([("email", "in", ["room@example.com", False])], no_email | {"Room 501"}),
        ([("email", "not in", ["room@example.com", False])],
         {"Alice", "Acme", "Novak", "Team axb"}),
        ([("phone", "=", False)], {"Bob", "Novak", "Promo 50% Off", "Room 501"}),
        ([("mobile", "!=", False)], {"Bob", "Novak"}),
        ([("country_id.code", "=", False)], {"Promo 50% Off"}),
        ([("state_id.name", "!=", "Praha")],
         {"Bob", "Acme", "Promo 50% Off", "Room 501", "Team axb"}),
        ([("email", "not like", "example")], no_email),
        (["!", ("email", "like", "example")], no_email),
        ([("email", "not ilike", "TEAM")], ALL - {"Team axb"}),
        ([("customer_rank", "=", False)], set()),
    ])  # fmt: skip


def test_like_family(db: Database) -> None:
    check_table(db, [
        ([("name", "like", "ova")], {"Novak"}),
        ([("name", "like", "novak")], set()),
        ([("name", "ilike", "novak")], {"Novak"}),
        ([("name", "ilike", "NOVAK")], {"Novak"}),
        ([("email", "like", "team")], set()),
        ([("email", "ilike", "team")], {"Team axb"}),
        ([("name", "like", "50%")], {"Promo 50% Off"}),
        ([("name", "ilike", "%")], {"Promo 50% Off"}),
        ([("name", "=like", "%50%")], {"Promo 50% Off", "Room 501"}),
        ([("name", "like", "a_b")], {"Team a_b"}),
        ([("name", "like", "\\")], set()),
        ([("name", "=like", "Team a_b")], {"Team a_b", "Team axb"}),
        ([("name", "=like", "Team a\\_b")], {"Team a_b"}),
        ([("name", "=like", "team%")], set()),
        ([("name", "=ilike", "team%")], {"Team a_b", "Team axb"}),
        ([("name", "=ilike", "BOB")], {"Bob"}),
        ([("name", "not like", "Team")], ALL - {"Team a_b", "Team axb"}),
        ([("name", "not ilike", "team")], ALL - {"Team a_b", "Team axb"}),
        ([("category_id.name", "like", "praha")], set()),
        ([("category_id.name", "ilike", "praha")], {"Bob", "Acme", "Room 501"}),
    ])  # fmt: skip


def test_create_date(db: Database) -> None:
    check_table(db, [
        ([("create_date", ">=", "2026-01-15 12:00:00")], {"Bob", "Novak", "Team a_b", "Team axb"}),
        ([("create_date", "<", "2026-01-01T09:00:00")], {"Acme", "Promo 50% Off"}),
        ([("create_date", "<", "2026-01-01T10:00:00+01:00")], {"Acme", "Promo 50% Off"}),
        ([("create_date", "<", "2026-01-01")], {"Acme"}),
        # A bare date covers the whole day, up to Acme's 23:59:59.5.
        ([("create_date", "<=", "2025-12-31")], {"Acme"}),
        ([("create_date", ">", "2025-12-31")], ALL - {"Acme"}),
        ([("create_date", "=", "2026-01-01")], {"Promo 50% Off"}),
        ([("create_date", ">", "20251231")], ALL - {"Acme"}),
        ([("create_date", "!=", "2026-01-01 00:00:00")], ALL - {"Promo 50% Off"}),
        ([("create_date", "in", ["2026-02-01", "2026-01-01 09:00:00"])], {"Alice", "Novak"}),
    ])  # fmt: skip


def test_logic_prefix_and_implicit_and(db: Database) -> None:
    cz = ("country_id.code", "=", "CZ")
    check_table(db, [
        ([cz, ("customer_rank", ">", 0)], {"Alice", "Novak", "Team axb"}),
        (["&", ("id", ">", 2), ("id", "<", 5)], {"Acme", "Novak"}),
        (["|", ("is_company", "=", True), ("state_id.name", "=", "Praha")],
         {"Acme", "Room 501", "Alice", "Novak", "Team a_b"}),
        (["!", cz], {"Acme", "Promo 50% Off", "Room 501"}),
        (["!", "!", ("id", "=", 1)], {"Alice"}),
        (["|", "&", cz, ("is_company", "=", False), "!", ("customer_rank", "=", 0)],
         ALL - {"Promo 50% Off"}),
        # The operand left over after '|' is AND-ed, as Odoo's normalize_domain does.
        (["|", ("id", "=", 1), ("id", "=", 2), ("mobile", "!=", False)], {"Bob"}),
        ([("mobile", "!=", False), "|", ("id", "=", 1), ("id", "=", 2)], {"Bob"}),
        (["!", "|", ("id", "=", 1), ("id", "=", 2), cz], {"Novak", "Team a_b", "Team axb"}),
        ([(1, "=", 1)], ALL),
        ([(0, "=", 1)], set()),
        (["|", (0, "=", 1), ("id", "=", 1)], {"Alice"}),
        (["!", (0, "=", 1)], ALL),
        ([], ALL), ((), ALL), (None, ALL), ("", ALL), ("  [] ", ALL),
    ])  # fmt: skip


def test_categories(db: Database) -> None:
    vip = {"Alice", "Acme", "Team a_b"}
    shop = {"Bob", "Acme", "Room 501"}
    none = {"Novak", "Promo 50% Off", "Team axb"}
    check_table(db, [
        ([("category_id", "in", [VIP])], vip),
        ([("category_id", "=", SHOP)], shop),
        ([("category_id", "in", [VIP, SHOP])], vip | shop),
        ([("category_id", "in", [])], set()),
        ([("category_id", "not in", [VIP])], ALL - vip),
        ([("category_id", "!=", SHOP)], ALL - shop),
        ([("category_id", "not in", [VIP, SHOP])], none),
        ([("category_id", "=", False)], none),
        ([("category_id", "!=", False)], ALL - none),
        ([("category_id", "in", [SHOP, False])], shop | none),
        ([("category_id.name", "=", "VIP")], vip),
        ([("category_id.name", "in", "VIP")], vip),
        ([("category_id.name", "in", ["VIP", "Praha-shop"])], vip | shop),
        ([("category_id.name", "=like", "Praha%")], shop),
        # Negative operators: no category matches the positive form.
        ([("category_id.name", "!=", "VIP")], ALL - vip),
        ([("category_id.name", "not ilike", "shop")], ALL - shop),
        ([("category_id.name", "not in", ["VIP", "Praha-shop"])], none),
        ([("category_id.name", "=", False)], none),
        ([("category_id.name", "!=", False)], ALL - none),
    ])  # fmt: skip


def test_blacklist_and_opt_out(db: Database) -> None:
    check_table(db, [
        ([("opt_out", "=", False)], ALL - BLACKLISTED),
        ([("opt_out", "=", True)], BLACKLISTED),
        ([("opt_out", "!=", True)], ALL - BLACKLISTED),
        ([("phone_sanitized_blacklisted", "=", None)], ALL - BLACKLISTED),
        ([("phone_sanitized_blacklisted", "!=", False)], BLACKLISTED),
    ])  # fmt: skip


def test_seed_document_examples_and_json(db: Database) -> None:
    check_table(db, [
        ('[("category_id", "in", [10])]', {"Alice", "Acme", "Team a_b"}),
        ('[("country_id.code", "=", "CZ")]', {"Alice", "Bob", "Novak", "Team a_b", "Team axb"}),
        ('[("customer_rank", ">", 0)]', {"Alice", "Acme", "Novak", "Room 501", "Team axb"}),
        ('[("opt_out", "=", False)]', ALL - BLACKLISTED),
        ('[("state_id.name", "=", "Praha")]', {"Alice", "Novak", "Team a_b"}),
        ('[("is_company", "=", True)]', {"Acme", "Room 501"}),
        ('[["country_id.code","=","CZ"],["opt_out","=",false]]', {"Alice", "Novak", "Team a_b"}),
        ('["|",["email","=",null],["is_company","=",true]]',
         {"Bob", "Promo 50% Off", "Team a_b", "Acme", "Room 501"}),
        ('[["name", "in", ["Bob", "Novak"]]]', {"Bob", "Novak"}),
        ("[('id', '>', -1), ('customer_rank', '>', 0)]",
         {"Alice", "Acme", "Novak", "Room 501", "Team axb"}),
    ])  # fmt: skip


def test_implicit_and_is_odoo_normalisation() -> None:
    a, b, c, d = (("id", "=", n) for n in range(1, 5))
    la, lb, lc, ld = (Leaf("id", "=", n) for n in range(1, 5))
    assert parse_domain([a]) == la
    assert parse_domain([a, b, c]) == And((la, lb, lc))
    assert parse_domain(["&", "&", a, b, c]) == And((la, lb, lc))
    assert parse_domain(["&", a, "&", b, c]) == And((la, lb, lc))
    assert parse_domain(["|", a, b, c]) == And((Or((la, lb)), lc))
    assert parse_domain([a, "|", b, c, d]) == And((la, Or((lb, lc)), ld))
    assert parse_domain(["!", a, b]) == And((Not(la), lb))
    assert parse_domain("[]") == parse_domain([]) == parse_domain(None) == TRUE
    assert parse_domain([(0, "=", 1)]) == FALSE
    assert parse_domain([a]).term == 1  # type: ignore[union-attr]


def test_canonical_text() -> None:
    assert validate_domain('[["name","ilike","x"],["is_company","=",true]]') == (
        "[('name', 'ilike', 'x'), ('is_company', '=', True)]"
    )
    text = "['|', ('id', 'in', [1, 2]), '!', ('email', '=', False), ('opt_out', '=', False)]"
    assert validate_domain(text) == text
    assert validate_domain(["&", "&", ("id", "=", 1), ("id", "=", 2), ("id", "=", 3)]) == (
        "[('id', '=', 1), ('id', '=', 2), ('id', '=', 3)]"
    )
    assert validate_domain(["|", "|", ("id", "=", 1), ("id", "=", 2), (1, "=", 1)]) == (
        "['|', '|', ('id', '=', 1), ('id', '=', 2), (1, '=', 1)]"
    )
    assert validate_domain("") == validate_domain([(1, "=", 1)]) == "[]"
    assert format_domain(parse_domain(validate_domain(text))) == text


@pytest.mark.parametrize(
    ("source", "pieces"),
    [
        ("[('foo', '=', 1)]", ["Unknown field 'foo'", "term 1 ('foo', '=', 1)",
                               "supported fields", "country_id.code", "category_id.name"]),
        ("[('id', '=', 1), ('foo', '=', 1)]", ["Unknown field 'foo' in term 2 ('foo', '=', 1)"]),
        ("[('name', 'contains', 'x')]", ["Unknown operator 'contains' in term 1",
                                         "supported operators", "'not ilike'", "'=like'"]),
        ("[('name', 'child_of', 1)]", ["Unknown operator 'child_of'"]),
        ("[('name', '=')]", ["Term 1 ('name', '=') has 2 element(s)", "triple"]),
        ("[('id', '=', 1), ('name', '=', 'a', 'b')]", ["Term 2", "has 4 element(s)"]),
        ("[('customer_rank', '>', '0')]", ["'customer_rank'", "an integer", "str '0'",
                                           "term 1 ('customer_rank', '>', '0')"]),
        ("[('id', '=', True)]", ["'id'", "an integer", "bool True"]),
        ("[('customer_rank', '=', 1.0)]", ["'customer_rank'", "an integer", "float 1.0"]),
        ("[('is_company', '=', 1)]", ["'is_company'", "True or False", "int 1"]),
        ("[('name', 'in', ['a', 5])]", ["'name'", "a string", "int 5"]),
        ("[('create_date', '>=', 'yesterday')]", ["'create_date'", "'yesterday'", "ISO date"]),
        ("[('create_date', 'like', '2026')]", ["'like'", "datetime field 'create_date'"]),
        ("[('id', 'ilike', '1')]", ["'ilike'", "int field 'id'"]),
        ("[('customer_rank', '>', False)]", ["'>'", "cannot compare with False"]),
        ("[('id', '=', [1, 2])]", ["needs a single value", "use 'in'"]),
        ("[('category_id', 'like', 'VIP')]", ["'like'", "many2many field 'category_id'"]),
        ("[('category_id', 'not like', 'V')]", ["'not like'", "many2many field 'category_id'"]),
        ("[('category_id', 'in', ['VIP'])]", ["'category_id'", "an integer", "str 'VIP'"]),
        ("[('opt_out', '=', 'yes')]", ["'opt_out'", "only '=' and '!='"]),
        ("[('opt_out', 'in', [True])]", ["'opt_out'", "term 1 ('opt_out', 'in', [True])"]),
        ("[('name', '=', ", ["cannot be parsed", "line 1, column"]),
        ('[["name", "=", "x"]', ["cannot be parsed", "'[' was never closed", "column 1"]),
        ("[('a' '=' 1)]", ["cannot be parsed", "line 1, column"]),
        ("['|', ('id', '=', 1)]", ["Operator '|' in term 1 needs 2 operand(s)", "only 1"]),
        ("[('id', '=', 1), '|', ('id', '=', 2)]", ["Operator '|' in term 2", "only 1"]),
        ("['&']", ["Operator '&' in term 1", "only 0"]),
        ("[('id', '=', 1), '!']", ["Operator '!' in term 2", "only 0"]),
        ("['^', ('id', '=', 1)]", ["Term 1 '^' is neither an operator"]),
        ("[5]", ["Term 1 5 is neither an operator"]),
        ("[(5, '=', 1)]", ["Term 1 (5, '=', 1)", "field 5", "not a string"]),
        ("[('id', 'in', [[1]])]", ["The value [[1]] in term 1", "not supported"]),
        ("[('id', 'in', {1, 2})]", ["not a plain literal", "'{1, 2}'", "column 15"]),
        ("__import__('os').system('x')",
         ["not a plain literal", "__import__('os').system('x')", "line 1, column 1"]),
        ("[('name', '=', open)]", ["not a plain literal", "'open'", "column 16"]),
        ("[('name', '=', 'x' + 'y')]", ["not a plain literal", "\"'x' + 'y'\""]),
        ("[('name', '=', true)]", ["'true'", "JSON"]),
        ("[('id', '=', not 1)]", ["not a plain literal", "'not 1'", "column 14"]),
        ("'hello'", ["must be a list of terms", "str 'hello'"]),
        ("42", ["must be a list of terms", "int 42"]),
        ("{'a': 1}", ["not a plain literal"]),
        (["!"] * 150 + [("id", "=", 1)], ["more than 100 levels"]),
        ("[" * 300, ["cannot be parsed", "too many nested parentheses", "column"]),
    ],
)  # fmt: skip
def test_invalid_domains_name_the_offending_piece(source: Any, pieces: list[str]) -> None:
    with pytest.raises(InvalidDomain) as caught:
        validate_domain(source)
    for piece in pieces:
        assert piece in caught.value.message, caught.value.message
    assert caught.value.message.endswith(".")


def test_code_in_a_domain_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for source in (
        f"__import__('pathlib').Path({str(marker)!r}).touch()",
        f"[('name', '=', __import__('pathlib').Path({str(marker)!r}).touch())]",
        f"[('name', '=', [x for x in [__import__('pathlib').Path({str(marker)!r}).touch()]])]",
    ):
        with pytest.raises(InvalidDomain, match="not a plain literal"):
            parse_domain(source)
    assert not marker.exists()


def test_compile_reports_errors_of_hand_built_trees() -> None:
    with pytest.raises(InvalidDomain, match=r"Unknown field 'foo' in term \('foo', '=', 1\)"):
        compile_domain(And((Leaf("id", "=", 1), Leaf("foo", "=", 1))))
    with pytest.raises(InvalidDomain, match="Unknown operator 'is'"):
        compile_domain(Leaf("id", "is", 1))
    with pytest.raises(InvalidDomain, match="must be a list of terms, not int 5"):
        parse_domain(5)  # type: ignore[arg-type]


def test_all_is_honest() -> None:
    defined = {
        name
        for name, obj in vars(odoo_domain).items()
        if not name.startswith("_") and getattr(obj, "__module__", None) == odoo_domain.__name__
    }
    assert defined <= set(odoo_domain.__all__)
    assert all(hasattr(odoo_domain, name) for name in odoo_domain.__all__)

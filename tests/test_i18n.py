"""The translation table is complete: every key in both languages, every value of the domain
vocabulary has its label, and every label the pages ask for by name is there."""

from __future__ import annotations

import re

from dashboard.i18n import LANGS, TABLE, t
from domain.vocab import Department, Level, Severity, Subdistrict, UnitKind, UnitStatus
from tests.helpers import ROOT


def test_every_key_has_every_language() -> None:
    for key, row in TABLE.items():
        assert set(row) == set(LANGS), key
        assert all(v.strip() for v in row.values()), key


def test_the_vocabulary_is_translated() -> None:
    for prefix, enum in (
        ("dept", Department),
        ("level", Level),
        ("kind", UnitKind),
        ("status", UnitStatus),
        ("subdistrict", Subdistrict),
        ("severity", Severity),
    ):
        for member in enum:
            assert f"{prefix}.{member.value}" in TABLE, f"{prefix}.{member.value}"


def test_lookup() -> None:
    assert t("status.on_scene") == "在现场"
    assert t("status.on_scene", "en") == "On scene"
    assert t("no.such.key", "en") == "no.such.key"
    assert t("status.on_scene", "fr") == "在现场"


def test_the_incident_vocabulary_is_translated() -> None:
    from domain.incidents import CLOCKS, Domain, IncidentType, Priority, Source, State

    for prefix, values in (
        ("incident.state", State),
        ("incident.source", Source),
        ("incident.type", IncidentType),
        ("incident.domain", Domain),
        ("incident.priority", [p.value for p in Priority]),
        ("incident.deadline", CLOCKS),
    ):
        for v in values:
            key = f"{prefix}.{getattr(v, 'value', v)}"
            assert key in TABLE, key


def test_every_label_the_pages_name_is_in_the_table() -> None:
    """Pages build their labels when they are opened (`t("key", lang)`): a key missing from the
    table would show as the key itself."""
    named = re.compile(r"""\bt\(\s*["']([a-z_][a-z0-9_.]*)["']\s*[,)]""")  # whole keys only
    found = {
        key
        for folder in ("layouts", "callbacks", "views", "dashboard")
        for path in (ROOT / folder).glob("*.py")
        for key in named.findall(path.read_text(encoding="utf-8"))
    }
    assert len(found) > 100
    assert sorted(found - set(TABLE)) == []

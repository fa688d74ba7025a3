"""Property tests: classic definitions round-trip through import/export; junk is refused cleanly."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from amlws.errors import UsageError
from amlws.model import Definition
from amlws.plugins.classic.backend import export, import_document

hexid = st.text("0123456789abcdef", min_size=32, max_size=32)
text = st.text(max_size=20)
location = st.one_of(st.none(), st.fixed_dictionaries(
    {"BaseLocation": text, "RelativeLocation": text, "SasBlobToken": text}))
resource = st.fixed_dictionaries({"Name": text, "Location": location}, optional={"Kind": text})
scalars = st.one_of(st.none(), st.booleans(), st.integers(), text)
extra = st.dictionaries(st.text("XYZxyz_", min_size=1, max_size=8), scalars, max_size=3)
documents = st.builds(
    lambda ws, svc, name, res, more: {**more, "WorkspaceId": ws, "WebServiceId": svc, "Name": name, "Resources": res,
                                      "PrimaryKey": "k" * 10},
    hexid, hexid, text, st.lists(resource, max_size=3), extra,
)


@settings(max_examples=60, deadline=None)
@given(documents)
def test_import_export_round_trip(doc: dict[str, Any]) -> None:
    d = import_document(doc, "x.json")
    assert d is not None
    exported = export(d, include_keys=True)
    assert exported == doc
    without = export(d)
    assert "PrimaryKey" not in without
    again = import_document(without, "x.json")
    assert again is not None and export(Definition("classic", again.document)) == without


junk = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
    ["Resources", "Name", "Location", "WebServiceId", "WorkspaceId", "BaseLocation", "x"]), inner, max_size=4)), max_leaves=10)


@settings(max_examples=100, deadline=None)
@given(junk)
def test_junk_is_refused_without_a_traceback(value: Any) -> None:
    try:
        import_document(value, "junk.json")
    except UsageError as exc:
        assert exc.message.startswith("junk.json: ")

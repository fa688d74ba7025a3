"""Property tests (hypothesis) on ARM definitions, model locations and the host's import:
random valid definitions round-trip losslessly through import, export and patch; random invalid
input is refused with an AmlwsError, never another exception. (Classic: tests/classic/test_properties.py.)"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import amlws.plugins.arm
import amlws.plugins.classic
from amlws.config import Settings
from amlws.errors import AmlwsError, NotFoundError, UsageError
from amlws.host import Host, get_plugin_manager, register_plugin
from amlws.model import Definition, ModelLocation
from amlws.plugins.arm import definition as arm

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
names = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
LOCATIONS = ["South Central US", "West Europe", "Southeast Asia", "Japan East", "West Central US"]

plain_asset = st.fixed_dictionaries(
    {"name": text, "type": st.sampled_from(["Module", "Resource"]),
     "locationInfo": st.fixed_dictionaries({"uri": text}, optional={"credentials": text})})
trained = st.builds(lambda n, blob: {"name": f"{n} [trained model]", "type": "Resource",
                                     "locationInfo": {"uri": f"https://acct.blob.core.windows.net/models/{blob}.ilearner"}},
                    names, names)
# min_size=1: export leaves an empty global-parameter map out (the service drops it after a PATCH)
parameters = st.dictionaries(names, st.fixed_dictionaries({"value": st.one_of(text, st.integers(), st.booleans())}), min_size=1, max_size=3)
tags = st.dictionaries(names, text, max_size=3)


@st.composite
def arm_definitions(draw: Any) -> dict[str, Any]:
    """Valid ARM WebService documents as Export-AzMlWebService writes them, with one trained model."""
    assets = draw(st.dictionaries(names.map(lambda n: "a" + n), plain_asset.filter(lambda a: "[trained model]" not in a["name"]),
                                  max_size=3))
    model_id = draw(names.map(lambda n: "m" + n))
    assets[model_id] = draw(trained)
    props: dict[str, Any] = {"packageType": "Graph", "title": draw(text), "assets": assets}
    if draw(st.booleans()):
        props["description"] = draw(text)
    if draw(st.booleans()):
        props["parameters"] = draw(parameters)
    if draw(st.booleans()):
        props["realtimeConfiguration"] = {"maxConcurrentCalls": draw(st.integers(4, 200))}
    if draw(st.booleans()):
        props["diagnostics"] = {"level": draw(st.sampled_from(["None", "Error", "All"]))}
    if draw(st.booleans()):
        props["storageAccount"] = {"name": draw(names)}
    if draw(st.booleans()):
        props["exposeSampleData"] = draw(st.booleans())
    doc = {"location": draw(st.sampled_from(LOCATIONS)), "properties": props}
    if draw(st.booleans()):
        doc["tags"] = draw(tags)
    return doc


sas_uris = st.builds(
    lambda blob, year, sig: f"https://acct.blob.core.windows.net/models/{blob}.ilearner?sv=2020-02-10&sp=r&se={year}-01-01&sig=SIGNATURE{sig}",
    names, st.integers(2100, 2999), names)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), text),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=80, deadline=None)
@given(arm_definitions())
def test_arm_definitions_round_trip_losslessly(doc: dict[str, Any]) -> None:
    normalised, warnings = arm.normalize(copy.deepcopy(doc), "x.json")
    assert warnings == []
    assert normalised == doc  # nothing lost, nothing added
    exported = arm.export_document(normalised)
    assert exported == doc
    again, _ = arm.normalize(json.loads(json.dumps(exported)), "x.json")
    assert again == normalised
    assert json.loads(arm.request_body(normalised)) == doc  # the PATCH body is the definition, byte-exact JSON


@settings(max_examples=80, deadline=None)
@given(arm_definitions(), sas_uris)
def test_arm_patch_changes_only_the_trained_model(doc: dict[str, Any], uri: str) -> None:
    before = copy.deepcopy(doc)
    patched, asset_id = arm.patch_ilearner(doc, ModelLocation.from_uri(uri))
    assert doc == before  # the input is not modified
    assert patched["properties"]["assets"][asset_id]["locationInfo"]["uri"] == uri
    rest = copy.deepcopy(patched)
    rest["properties"]["assets"][asset_id] = before["properties"]["assets"][asset_id]
    assert rest == before
    assert arm.patch_ilearner(patched, ModelLocation.from_uri(uri))[0] == patched  # idempotent
    normalised, _ = arm.normalize(patched, "patched.json")
    assert normalised == patched


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_arm_normalize_refuses_junk_cleanly(value: Any) -> None:
    try:
        arm.normalize(value, "junk.json")
    except UsageError as exc:
        assert exc.message.startswith("junk.json: ") and "\n" not in exc.message


@settings(max_examples=100, deadline=None)
@given(arm_definitions(), st.sampled_from(["location", "properties", "packageType", "assets", "title", "parameters"]), json_values)
def test_arm_definition_with_a_random_field_is_accepted_or_refused_cleanly(doc: dict[str, Any], field: str, value: Any) -> None:
    broken = copy.deepcopy(doc)
    where = broken if field in ("location", "properties") else broken["properties"]
    where[field] = value
    try:
        normalised, _ = arm.normalize(broken, "b.json")
    except UsageError:
        return
    # accepted: it exports and re-imports to the same document (an empty parameters map aside: export leaves it out)
    if normalised["properties"].get("parameters") == {}:
        del normalised["properties"]["parameters"]
    assert arm.normalize(arm.export_document(normalised), "b.json")[0] == normalised


@settings(max_examples=150, deadline=None)
@given(text)
def test_model_locations_from_any_text_are_parsed_or_refused_cleanly(value: str) -> None:
    try:
        loc = ModelLocation.from_uri(value)
        loc.check()
    except UsageError:
        return
    assert loc.relative_location.lower().split("?")[0].endswith(".ilearner")


@pytest.fixture(scope="module")
def host() -> Host:
    pm = get_plugin_manager(load_entrypoints=False)
    register_plugin(pm, amlws.plugins.arm, "arm")
    register_plugin(pm, amlws.plugins.classic, "classic")
    pm.check_pending()
    return Host(pm, Settings.load(require_profile=False))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values)
def test_host_import_of_any_json_is_a_definition_or_an_amlws_error(host: Host, value: Any) -> None:
    try:
        d = host.import_definition(value, source="any.json")
    except AmlwsError as exc:
        assert exc.exit_code in (2, 3) and "\n" not in exc.message
        return
    assert isinstance(d, Definition) and d.backend in ("arm", "classic")
    assert isinstance(host.export(d), dict)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arm_definitions(), sas_uris)
def test_host_patch_and_export_round_trip(host: Host, doc: dict[str, Any], uri: str) -> None:
    d = host.import_definition(doc, source="d.json", backend="arm")
    patched = host.patch_ilearner(d, ModelLocation.from_uri(uri))
    exported = host.export(patched, include_keys=True)
    assert host.import_definition(exported, source="e.json").document == patched.document
    masked = host.export(patched)
    assert "sig=***" in json.dumps(masked) and uri.rsplit("sig=", 1)[1] not in json.dumps(masked)
    try:
        host.patch_ilearner(d, ModelLocation.from_uri(uri), selector="no-such-asset")
    except NotFoundError:
        pass
    else:
        raise AssertionError("an unknown --asset must be refused")


hexids = st.text("0123456789abcdef", min_size=32, max_size=32)
classic_resource = st.builds(lambda n, blob: {"Name": f"{n} [trained model]", "Kind": "TrainedModel",
                                              "Location": {"BaseLocation": "https://acct.blob.core.windows.net/",
                                                           "RelativeLocation": f"models/{blob}.ilearner",
                                                           "SasBlobToken": "?sv=2020-02-10&sp=r&sig=OLD"}}, names, names)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hexids, hexids, names, classic_resource, sas_uris)
def test_classic_patch_changes_only_the_resource_location(host: Host, ws: str, svc: str, name: str,
                                                         resource: dict[str, Any], uri: str) -> None:
    doc = {"Name": name, "WorkspaceId": ws, "WebServiceId": svc, "Resources": [resource], "Description": "kept"}
    d = host.import_definition(copy.deepcopy(doc), source="c.json")
    assert d.backend == "classic" and d.document == doc
    patched = host.patch_ilearner(d, ModelLocation.from_uri(uri))
    loc = ModelLocation.from_uri(uri)
    assert patched.document["Resources"][0]["Location"] == {
        "BaseLocation": loc.base_location, "RelativeLocation": loc.relative_location, "SasBlobToken": loc.sas_blob_token}
    rest = copy.deepcopy(patched.document)
    rest["Resources"][0]["Location"] = resource["Location"]
    assert rest == doc and d.document == doc  # nothing else changed, the input untouched
    again = host.import_definition(host.export(patched, include_keys=True), source="e.json")
    assert again.document == patched.document
    masked = json.dumps(host.export(patched))
    assert "sig=***" in masked and "SIGNATURE" not in masked

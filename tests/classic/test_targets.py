"""Targets, regions and option-built targets (REFERENCE §1.1); no server needed."""

from __future__ import annotations

import pytest

from amlws.errors import ExitCode, NoBackendError, UsageError
from amlws.plugins.classic import targets
from amlws.plugins.classic.targets import ClassicRef, management_base_url, parse_url

WS = "d2f62586bed343d621441d55b3872d53"
SVC = "af3e3f32ad393852f9b30ac9a35b0001"


@pytest.mark.parametrize(
    "location, host",
    [
        ("South Central US", "https://management.azureml.net/"),
        ("West Europe", "https://europewest.management.azureml.net/"),
        ("Southeast Asia", "https://asiasoutheast.management.azureml.net/"),
        ("Japan East", "https://japaneast.management.azureml.net/"),
        ("Germany Central", "https://germanycentral.management.azureml.de/"),
        ("West Central US", "https://uswestcentral.management.azureml.net/"),
        ("Integration Test", "https://management.azureml-int.net/"),
        ("west EUROPE", "https://europewest.management.azureml.net/"),
        ("westcentralus", "https://uswestcentral.management.azureml.net/"),
    ],
)
def test_region_hosts(location: str, host: str) -> None:
    assert management_base_url(location) == host


def test_unknown_location_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as info:
        management_base_url("East US")
    assert "East US" in info.value.message
    for name in ("South Central US", "West Central US", "Germany Central"):
        assert name in info.value.hint


@pytest.mark.parametrize(
    "url, base, endpoint",
    [
        (f"https://management.azureml.net/workspaces/{WS}/webservices/{SVC}/endpoints/ep01", "https://management.azureml.net/", "ep01"),
        (f"https://management.azureml.net/workspaces/{WS}/webservices/{SVC}/endpoints/ep01/", "https://management.azureml.net/", "ep01"),
        (f"https://uswestcentral.management.azureml.net/workspaces/{WS}/webservices/{SVC}/endpoints/newendpoint2", "https://uswestcentral.management.azureml.net/", "newendpoint2"),
        (f"https://germanycentral.management.azureml.de/workspaces/{WS}/webservices/{SVC}/endpoints/e", "https://germanycentral.management.azureml.de/", "e"),
        (f"https://management.azureml-int.net/workspaces/{WS}/webservices/{SVC}/endpoints/e", "https://management.azureml-int.net/", "e"),
        (f"https://europewest.management.azureml.net/workspaces/{WS}/webservices/{SVC}", "https://europewest.management.azureml.net/", None),
    ],
)
def test_parse_management_urls(url: str, base: str, endpoint: str | None) -> None:
    ref = parse_url(url, None)
    assert ref == ClassicRef(base, WS, SVC, endpoint)
    assert ref.id == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.MachineLearning/webServices/ws",
        f"https://ussouthcentral.services.azureml.net/workspaces/{WS}/services/abc/jobs",  # BES, not management
        f"https://management.azureml.net/workspaces/{WS}/experiments/x",
        "https://management.azure.com/subscriptions/x",
        "file:model.json",
    ],
)
def test_not_classic(url: str) -> None:
    assert parse_url(url, None) is None


def test_override_host_claims_urls_under_it() -> None:
    base = "http://127.0.0.1:8443/classic"
    ref = parse_url(f"http://127.0.0.1:8443/classic/workspaces/{WS}/webservices/{SVC}/endpoints/ep01", base)
    assert ref == ClassicRef("http://127.0.0.1:8443/classic/", WS, SVC, "ep01")
    # ARM paths on the same host (the emulator serves both) are not classic's.
    assert parse_url("http://127.0.0.1:8443/subscriptions/x/resourceGroups/rg", base) is None
    # A real Azure URL is sent to the override when one is set (the emulator stands in for Azure).
    assert parse_url(f"https://management.azureml.net/workspaces/{WS}/webservices/{SVC}/endpoints/e", base).base_url == base + "/"


def test_ids_must_be_32_hex() -> None:
    # The ADF sample's placeholder URL is a management URL, but its ids are not ids.
    ref = parse_url("https://management.azureml.net/workspaces/xxx/webservices/--scoring experiment--/endpoints/endpoint2", None)
    assert ref is not None
    with pytest.raises(UsageError, match="invalid workspace id 'xxx'"):
        ref.validate()
    with pytest.raises(UsageError, match="invalid web service id"):
        ClassicRef("https://management.azureml.net/", WS, "not-a-guid", "e").validate()
    ClassicRef("https://management.azureml.net/", WS.upper(), "af3e3f32-ad39-3852-f9b3-0ac9a35b0001", "e").validate()


@pytest.mark.parametrize("name", ["", "EP01", "ep-01", "ep_01", "a" * 25, "端点"])
def test_endpoint_name_rule(name: str) -> None:
    with pytest.raises(UsageError) as info:
        targets.check_endpoint_name(name)
    assert info.value.exit_code == ExitCode.USAGE and "lowercase" in info.value.message


def test_endpoint_name_rule_accepts() -> None:
    for name in ("ep01", "rentalloc001", "a" * 24, "default"):
        assert targets.check_endpoint_name(name) == name


def test_host_resolves_urls_and_options(host, cc) -> None:
    url = f"https://uswestcentral.management.azureml.net/workspaces/{WS}/webservices/{SVC}/endpoints/ep01"
    # AMLWS_CLASSIC_ENDPOINT is set by the fixture: the target keeps its path, the base is the override.
    t = host.resolve(url)
    assert t.backend == "classic" and t.parts["endpoint"] == "ep01" and t.parts["workspace"] == WS
    t2 = host.resolve(None, options={"workspace": WS, "service": SVC, "endpoint": "ep01", "location": None,
                                     "resource_group": None, "name": None, "subscription": None})
    assert t2.id == cc.ep_url(host.settings.get("classic_endpoint"))
    with pytest.raises(NoBackendError):
        host.resolve("https://example.com/workspaces/a/webservices/b/endpoints/c")


def test_options_use_location_when_no_override(host, monkeypatch) -> None:
    monkeypatch.delitem(host.settings.env, "AMLWS_CLASSIC_ENDPOINT")
    opts = {"workspace": WS, "service": SVC, "endpoint": "ep01", "location": "Germany Central"}
    t = host.resolve(None, options=opts)
    assert t.id == f"https://germanycentral.management.azureml.de/workspaces/{WS}/webservices/{SVC}/endpoints/ep01"
    with pytest.raises(UsageError, match="unknown classic location 'Mars'"):
        host.resolve(None, options={**opts, "location": "Mars"})
    with pytest.raises(UsageError, match="no classic location"):
        host.resolve(None, options={**opts, "location": None})
    monkeypatch.setitem(host.settings.env, "AMLWS_LOCATION", "west europe")
    assert host.resolve(None, options={**opts, "location": None}).id.startswith("https://europewest.management.azureml.net/")


def test_plugin_import_is_light() -> None:
    import subprocess
    import sys

    code = ("import sys, amlws.plugins.classic as c; c.amlws_backend_info(); "
            "assert 'requests' not in sys.modules and not any(m.startswith('azure') for m in sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_docs_obfuscated_ids_are_accepted() -> None:
    """The MS docs PATCH URL (REFERENCE §3) has 26/27-character letters-and-digits ids: sent as published."""
    ref = parse_url("https://management.azureml.net/workspaces/00bf70534500b34rebfa1843d6/webservices/af3er32ad393852f9b30ac9a35b/endpoints/newendpoint2", None)
    assert ref is not None
    ref.validate()
    assert (ref.workspace, ref.service, ref.endpoint) == ("00bf70534500b34rebfa1843d6", "af3er32ad393852f9b30ac9a35b", "newendpoint2")
    assert ref.endpoint_url == ("https://management.azureml.net/workspaces/00bf70534500b34rebfa1843d6"
                                "/webservices/af3er32ad393852f9b30ac9a35b/endpoints/newendpoint2")
    for bad in ("xxx", "a b c d e f g h i j k", "-" * 20, "0123456789abcdef/0123456789"):
        with pytest.raises(UsageError, match="invalid workspace id"):
            ClassicRef("https://management.azureml.net/", bad, "af3er32ad393852f9b30ac9a35b", "e").validate()

"""A plain-http ARM stand-in on 127.0.0.1 works, LRO polls included (azure-core would refuse the token)."""

import json

from pytest_httpserver import HTTPServer
from werkzeug import Response

from amlws.config import Settings

WS = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.MachineLearning/webServices/svc1"


def test_patch_with_lro_over_loopback_http(monkeypatch):
    from amlws.plugins.arm.client import ArmClient

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        op = server.url_for("/subscriptions/sub1/providers/Microsoft.MachineLearning/locations/westus/operationsStatus/op1")
        resource = {"id": WS, "name": "svc1", "type": "Microsoft.MachineLearning/webServices", "location": "West US",
                    "properties": {"provisioningState": "Succeeded", "packageType": "Graph", "title": "t2"}}
        server.expect_ordered_request(WS, method="PATCH", query_string="api-version=2017-01-01").respond_with_response(
            Response(json.dumps({**resource, "properties": {"provisioningState": "Provisioning"}}), status=200,
                     headers={"Azure-AsyncOperation": op + "?api-version=2017-01-01", "Content-Type": "application/json"}))
        server.expect_ordered_request("/subscriptions/sub1/providers/Microsoft.MachineLearning/locations/westus/operationsStatus/op1",
                                      method="GET").respond_with_json({"status": "Succeeded"})
        server.expect_ordered_request(WS, method="GET", query_string="api-version=2017-01-01").respond_with_json(resource)
        settings = Settings(env={"AMLWS_ARM_ENDPOINT": server.url_for("/"), "AMLWS_ARM_TOKEN": "tok-loopback-123",
                                 "AMLWS_POLL_INTERVAL": "0"})
        with ArmClient(settings) as client:
            final = client.patch(WS, json.dumps({"properties": {"packageType": "Graph", "title": "t2"}}).encode())
        assert final["properties"]["title"] == "t2"
        server.check_assertions()
        assert [r.headers.get("Authorization") for r, _ in server.log] == ["Bearer tok-loopback-123"] * 3
    finally:
        server.clear()
        server.stop()

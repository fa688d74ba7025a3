"""ARM URL table (moto's ``urls.py``): (method, path regex, handler name, operationId)."""

_WS = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearning/webServices/(?P<name>[^/]+)"

ROUTES = [
    ("PUT", _WS + "$", "create_or_update", "WebServices_CreateOrUpdate"),
    ("GET", _WS + "$", "get", "WebServices_Get"),
    ("PATCH", _WS + "$", "patch", "WebServices_Patch"),
    ("DELETE", _WS + "$", "delete", "WebServices_Remove"),
    ("POST", _WS + "/CreateRegionalBlob$", "create_regional", "WebServices_CreateRegionalProperties"),
    ("GET", _WS + "/listKeys$", "list_keys", "WebServices_ListKeys"),
    ("GET", r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearning/webServices/?$",
     "list_by_resource_group", "WebServices_ListByResourceGroup"),
    ("GET", r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearning/webServices/?$",
     "list_by_subscription", "WebServices_ListBySubscriptionId"),
    ("GET", r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearning/locations/(?P<loc>[^/]+)/operationsStatus/(?P<op>[^/]+)$",
     "operation_status", "OperationsStatus_Get"),
    ("GET", r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearning/locations/(?P<loc>[^/]+)/operationresults/(?P<op>[^/]+)$",
     "operation_result", "OperationResults_Get"),
    ("GET", r"/providers/Microsoft\.MachineLearning/operations$", "operations_list", "Operations_List"),
    # the payload blob of a large service (payloadsLocation), served as a storage blob would be
    ("GET", r"/_payloads/(?P<blob>[0-9a-f]{32})/payload\.json$", "payload_blob", "Payloads_Get"),
    ("*", r"/subscriptions/[^/]+/(resourceGroups/[^/]+/)?providers/Microsoft\.MachineLearning/.*", "not_found", "NotFound"),
]

#: ARM paths are case-insensitive (resource types and providers).
FLAGS = "IGNORECASE"

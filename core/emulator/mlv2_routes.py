"""Azure ML v2 URL table (moto's ``urls.py``): (method, path regex, handler name, operationId).

ARM ``Microsoft.MachineLearningServices`` under a workspace (mlv2 REFERENCE §2), the operation
status/result URLs of its long-running operations (§3), and the scoring data plane of each online
endpoint (§7), served on the emulator's one port under ``/inference/{endpoint id}/``.
"""

_W = (r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices"
      r"/workspaces/(?P<ws>[^/]+)")
_EP = _W + r"/onlineEndpoints/(?P<ep>[^/]+)"
_DEP = _EP + r"/deployments/(?P<dep>[^/]+)"
_MODEL = _W + r"/models/(?P<model>[^/]+)"
_OPS = r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearningServices/locations/(?P<loc>[^/]+)"

ROUTES = [
    ("GET", _W + "/?$", "get_workspace", "Workspaces_Get"),
    ("GET", _W + "/onlineEndpoints/?$", "list_endpoints", "OnlineEndpoints_List"),
    ("GET", _EP + "$", "get_endpoint", "OnlineEndpoints_Get"),
    ("PUT", _EP + "$", "put_endpoint", "OnlineEndpoints_CreateOrUpdate"),
    ("PATCH", _EP + "$", "patch_endpoint", "OnlineEndpoints_Update"),
    ("DELETE", _EP + "$", "delete_endpoint", "OnlineEndpoints_Delete"),
    ("POST", _EP + "/listKeys$", "list_keys", "OnlineEndpoints_ListKeys"),
    ("POST", _EP + "/token$", "get_token", "OnlineEndpoints_GetToken"),
    ("GET", _EP + "/deployments/?$", "list_deployments", "OnlineDeployments_List"),
    ("GET", _DEP + "$", "get_deployment", "OnlineDeployments_Get"),
    ("PUT", _DEP + "$", "put_deployment", "OnlineDeployments_CreateOrUpdate"),
    ("PATCH", _DEP + "$", "patch_deployment", "OnlineDeployments_Update"),
    ("DELETE", _DEP + "$", "delete_deployment", "OnlineDeployments_Delete"),
    ("POST", _DEP + "/getLogs$", "get_logs", "OnlineDeployments_GetLogs"),
    ("GET", _W + "/models/?$", "list_models", "ModelContainers_List"),
    ("GET", _MODEL + "$", "get_model", "ModelContainers_Get"),
    ("PUT", _MODEL + "$", "put_model", "ModelContainers_CreateOrUpdate"),
    ("DELETE", _MODEL + "$", "delete_model", "ModelContainers_Delete"),
    ("GET", _MODEL + "/versions/?$", "list_versions", "ModelVersions_List"),
    ("GET", _MODEL + "/versions/(?P<version>[^/]+)$", "get_version", "ModelVersions_Get"),
    ("PUT", _MODEL + "/versions/(?P<version>[^/]+)$", "put_version", "ModelVersions_CreateOrUpdate"),
    ("DELETE", _MODEL + "/versions/(?P<version>[^/]+)$", "delete_version", "ModelVersions_Delete"),
    ("GET", _OPS + "/mfeOperationsStatus/(?P<op>[^/]+)$", "operation_status", "MfeOperationsStatus_Get"),
    ("GET", _OPS + "/mfeOperationResults/(?P<op>[^/]+)$", "operation_result", "MfeOperationResults_Get"),
    # the scoring data plane (the real host is https://{endpoint}.{region}.inference.ml.azure.com/score)
    ("POST", r"/inference/(?P<scoring>[0-9a-f]{32})/score$", "score", "OnlineEndpoints_Score"),
    ("GET", r"/inference/(?P<scoring>[0-9a-f]{32})/swagger\.json$", "swagger", "OnlineEndpoints_Swagger"),
    ("*", r"/subscriptions/[^/]+/(resourceGroups/[^/]+/)?providers/Microsoft\.MachineLearningServices/.*", "not_found", "NotFound"),
]

#: operations answered on the scoring host, not ARM: logged and faulted as api ``mlv2-scoring``
SCORING_OPERATIONS = ("OnlineEndpoints_Score", "OnlineEndpoints_Swagger")

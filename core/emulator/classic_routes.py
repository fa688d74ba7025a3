"""Classic management API URL table: (method, path regex, handler name, operation name)."""

_WS = r"/workspaces/(?P<ws>[^/]+)/webservices"
_SVC = _WS + r"/(?P<svc>[^/]+)"
_EP = _SVC + r"/endpoints/(?P<ep>[^/]+)"

ROUTES = [
    ("GET", _WS + "/?$", "list_services", "WebServices_List"),
    ("GET", _SVC + "$", "get_service", "WebServices_Get"),
    ("PUT", _SVC + "$", "put_service", "WebServices_Put"),
    ("DELETE", _SVC + "$", "delete_service", "WebServices_Delete"),
    ("GET", _SVC + "/endpoints/?$", "list_endpoints", "Endpoints_List"),
    ("GET", _EP + "$", "get_endpoint", "Endpoints_Get"),
    ("PUT", _EP + "$", "put_endpoint", "Endpoints_Put"),
    ("PATCH", _EP + "$", "patch_endpoint", "Endpoints_Patch"),
    ("DELETE", _EP + "$", "delete_endpoint", "Endpoints_Delete"),
    ("POST", _EP + "/refresh$", "refresh_endpoint", "Endpoints_Refresh"),
    ("*", _WS + "(/.*)?$", "not_found", "NotFound"),
]

FLAGS = "IGNORECASE"

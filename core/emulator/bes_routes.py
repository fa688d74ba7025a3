"""BES/RRS URL table. ``{ApiLocation}`` is ``/workspaces/{ws}/services/{endpointId}`` (classic) or
``/subscriptions/{sub}/services/{serviceId}`` (ARM services)."""

_API = r"(?:/workspaces/(?P<ws>[^/]+)|/subscriptions/(?P<sub>[^/]+))/services/(?P<svcid>[^/]+)"

ROUTES = [
    ("POST", _API + "/jobs/?$", "submit", "Jobs_Submit"),
    ("GET", _API + "/jobs/?$", "list_jobs", "Jobs_List"),
    ("POST", _API + "/jobs/(?P<job>[^/]+)/start$", "start", "Jobs_Start"),
    ("GET", _API + "/jobs/(?P<job>[^/]+)$", "status", "Jobs_Get"),
    ("DELETE", _API + "/jobs/(?P<job>[^/]+)$", "cancel", "Jobs_Cancel"),
    ("POST", _API + "/execute$", "execute", "Execute"),
    ("GET", _API + "/swagger\\.json$", "swagger", "Swagger"),
]

FLAGS = "IGNORECASE"

"""amlws: retrain Azure ML Studio models and update classic and ARM web services.

The public library API lives in the sub-modules; this package stays import-light
because the CLI and every plugin import it on each start.
"""

import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``@amlws.hookimpl``.
hookimpl = pluggy.HookimplMarker("amlws")

__all__ = ["__version__", "hookimpl"]

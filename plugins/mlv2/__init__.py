"""The Azure ML v2 backend (``Microsoft.MachineLearningServices`` managed online endpoints and
deployments, model versions). Its pure parts: :mod:`.ids` (targets and model references),
:mod:`.definition` (export, checks, the model patch, traffic rules), :mod:`.schema` (request
bodies against the official 2025-12-01 swagger definitions)."""

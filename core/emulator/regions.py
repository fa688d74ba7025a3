"""Azure region names: the programmatic form (``southcentralus``) and the display form
(``South Central US``) the ARM webServices RP answers with.

The recorded real service answered a PUT that said ``"location": "southcentralus"`` with
``"location": "South Central US"`` (azure-powershell SessionRecords
``TestCreateAndGetRegionalProperties.json``), so the emulator stores the display name. A name
it does not know is kept as sent (the real service's list is larger than this one).
"""

from __future__ import annotations

from .core import norm_location

#: Azure public-cloud regions, display names (the ``displayName`` of ``az account list-locations``).
DISPLAY_NAMES = (
    "East US", "East US 2", "Central US", "North Central US", "South Central US", "West Central US",
    "West US", "West US 2", "West US 3", "Canada Central", "Canada East", "Brazil South", "Brazil Southeast",
    "North Europe", "West Europe", "UK South", "UK West", "France Central", "France South",
    "Germany West Central", "Germany North", "Germany Central", "Germany Northeast", "Switzerland North",
    "Switzerland West", "Norway East", "Norway West", "Sweden Central", "Poland Central", "Italy North",
    "Spain Central", "East Asia", "Southeast Asia", "Japan East", "Japan West", "Korea Central", "Korea South",
    "Australia East", "Australia Southeast", "Australia Central", "Australia Central 2", "Central India",
    "South India", "West India", "Jio India West", "Jio India Central", "UAE North", "UAE Central",
    "South Africa North", "South Africa West", "Qatar Central", "Israel Central", "Mexico Central",
    "New Zealand North",
)

_BY_NORM = {norm_location(name): name for name in DISPLAY_NAMES}


def display_name(location: str | None) -> str | None:
    """``"southcentralus"`` or ``"South Central US"`` -> ``"South Central US"``; unknown names unchanged."""
    if not location:
        return location
    return _BY_NORM.get(norm_location(location), location)

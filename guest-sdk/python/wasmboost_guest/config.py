"""Named configuration values and secrets granted to the queue (``grants.config``,
``grants.secrets``). A name that is not granted raises :class:`GrantError` (``denied``).

```python
from wasmboost_guest import config

agent = config.get("USER_AGENT")
key = config.secret("API_KEY")   # never log it: the host keeps it out of its logs and records
```
"""

from __future__ import annotations

from ._host import host


def get(name: str) -> str:
    """The configuration value ``name``."""
    return host().config_get(name)


def secret(name: str) -> str:
    """The secret ``name`` (from the host's environment or a file named in its config)."""
    return host().config_secret(name)

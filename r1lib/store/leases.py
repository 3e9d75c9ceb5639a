"""Who holds a lease on a key: this process's id (host and pid), and whether another holder is still alive.
"""

from __future__ import annotations

import os
import socket


def owner_id() -> str:
    """Identify this process for leases: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # cannot check another machine; rely on expiry
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True

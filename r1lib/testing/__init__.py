"""Real local components for tests and performance scripts (no mocks): see :mod:`r1lib.testing.loopback`
and :mod:`r1lib.testing.local`.

``LoopbackServer`` is imported on first use, so that ``python -m r1lib.testing.loopback`` runs the
module as a command without it being imported twice.
"""

from typing import Any

from r1lib.testing.local import (
    FAST_RETRIES,
    cli_command,
    free_port,
    loopback_judge,
    loopback_model,
    priced_judge_file,
    run_cli,
    stop_server,
)
from r1lib.testing.loopback_chat import (
    BEHAVIOURS,
    FAULTS,
    MODEL_ROUTES,
    STREAM_FAULTS,
    last_user_message,
    scripted_answer,
    scripted_thinking,
)

__all__ = ["BEHAVIOURS", "FAST_RETRIES", "FAULTS", "MODEL_ROUTES", "STREAM_FAULTS", "LoopbackServer", "cli_command",
           "free_port", "last_user_message", "loopback_judge", "loopback_model", "priced_judge_file", "run_cli",
           "scripted_answer",
           "scripted_thinking", "stop_server"]


def __getattr__(name: str) -> Any:
    if name == "LoopbackServer":
        from r1lib.testing.loopback import LoopbackServer
        return LoopbackServer
    raise AttributeError(f"module 'r1lib.testing' has no attribute {name!r}")

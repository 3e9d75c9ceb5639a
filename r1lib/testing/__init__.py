"""Real local components for tests and performance scripts (no mocks): see :mod:`r1lib.testing.loopback`."""

from r1lib.testing.loopback import (BEHAVIOURS, FAULTS, STREAM_FAULTS, LoopbackServer, last_user_message,
                                    scripted_answer, scripted_thinking)

__all__ = ["BEHAVIOURS", "FAULTS", "STREAM_FAULTS", "LoopbackServer", "last_user_message", "scripted_answer",
           "scripted_thinking"]

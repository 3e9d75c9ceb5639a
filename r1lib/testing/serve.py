"""``python -m r1lib.testing.loopback``: the loopback server as a command, to rehearse your own models file.

It prints the ``base_url`` to put in a models entry (``backend: openai``, no key needed) and serves
until Ctrl-C. ``--route`` picks how replies look, as a provider route answers (or any loopback
behaviour by name)::

    python -m r1lib.testing.loopback --port 8011 --route deepseek
    # base_url: http://127.0.0.1:8011/v1

Then ``r1lib generate --model my-model --models-file my-models.yaml ...`` with ``base_url`` set to it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from r1lib.testing.loopback import LoopbackServer
from r1lib.testing.loopback_chat import BEHAVIOURS, FAULTS

#: Provider routes and the loopback behaviour that answers as they do.
ROUTES = {
    "together": "tags",               # DeepSeek-R1 on Together: <think>…</think> in the content
    "deepseek": "deepseek",           # DeepSeek's API: the thinking in reasoning_content
    "vllm": "vllm",                   # vLLM with a reasoning parser: the thinking in reasoning
    "openrouter": "reasoning_details",  # the thinking as a list of reasoning_details
    "distill": "bare_close",          # a template that opened the think block: only </think> in the content
    "o3-mini": "hidden",              # hidden reasoning: only usage.reasoning_tokens
    "plain": "plain",                 # a model without reasoning
}


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m r1lib.testing.loopback",
        description="A loopback OpenAI-compatible server on 127.0.0.1, to rehearse a models file without keys.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--route", default="deepseek", choices=[*ROUTES, *(b for b in BEHAVIOURS if b not in ROUTES)],
                        metavar="ROUTE", help=f"how replies look: {', '.join(ROUTES)} (a provider route), or a "
                                              f"loopback behaviour: {', '.join(BEHAVIOURS)} (default: deepseek)")
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help=f"share of requests faulted ({', '.join(FAULTS)}; default 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C (or SIGTERM); returns the exit status."""
    args = build_parser().parse_args(argv)
    if not 0 <= args.port < 65536:
        print(f"--port {args.port}: give a port between 1 and 65535 (or 0 for a free one)", file=sys.stderr)
        return 2
    if not 0.0 <= args.fault_rate <= 1.0:
        print(f"--fault-rate {args.fault_rate}: give a share between 0 and 1", file=sys.stderr)
        return 2
    server = LoopbackServer(behaviour=ROUTES.get(args.route, args.route), port=args.port,
                            fault_rate=args.fault_rate, seed=args.seed, latency=args.latency)
    try:
        server.start()
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror}); pick another --port", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"loopback server ({args.route} route) listening; base_url: {server.base_url}", flush=True)
    print("put it in a models entry (backend: openai, no api_key_env); Ctrl-C stops the server", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print(f"served {server.counts.get('ok', 0)} replies; stopped", flush=True)
    return 0

"""A dress rehearsal of the paper profile: every model and the GPT-4o judge re-pointed at a loopback
server that imitates each provider route, so the whole paper run can be exercised without a key.

:class:`PaperImitation` answers as each route does:

- DeepSeek-R1 through Together (model ``deepseek-ai/DeepSeek-R1``): ``<think>…</think>`` in the
  content; through DeepSeek's own API (``deepseek-reasoner``): the thinking in ``reasoning_content``;
- DeepSeek-R1-Distill-Llama-70B: thinking ended by a bare ``</think>`` (the template opened it);
- DeepSeek-V3 and Llama-3.3-70B: plain answers;
- o3-mini: hidden reasoning (only ``reasoning_tokens``), and some prompts blocked with HTTP 400
  ``invalid_prompt`` as OpenAI blocks them;
- GPT-4o: each judge protocol answered in its own format (AIR-Bench ``##the_score``, CyberSecEval's
  expansion and one-word verdict, interpreter JSON flags, prompt-injection yes/no, XSTest classes,
  the jailbreak yes/no, S/A/B/C, the spear-phishing victim, its compliance/refusal checks and the
  grades), with a share of malformed answers; or, with ``judge="one-word"``, one word to everything.

Which answer a prompt gets is a hash of the prompt, so a rehearsal is deterministic. Prompts are
recognised by short phrases of the protocols, never by their full text.
:func:`rehearse` writes the models file that re-points the paper profile's models at the server
(same entries, new ``base_url``, no key) and runs ``r1lib reproduce`` on it into its own folders
(``runs/rehearsal-<route>/``, ``tables/rehearsal-<route>/``, ``figures/rehearsal-<route>/``), never
touching the paper profile's outputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from r1lib.app.profiles import Profile
from r1lib.app.reproduce import reproduce
from r1lib.config.settings import Settings, models_registry
from r1lib.core.errors import UserError
from r1lib.testing.loopback import LoopbackServer
from r1lib.testing.loopback_chat import last_user_message

ROUTES = ("together", "deepseek")
JUDGE_STYLES = ("realistic", "one-word")
#: Share of the GPT-4o imitation's answers that are malformed, and of o3-mini's prompts it blocks.
MALFORMED, BLOCKED = 0.06, 0.15
FAST_RETRIES = {"max_attempts": 2, "backoff_s": 0.01, "backoff_max_s": 0.05, "timeout": 30}


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class PaperImitation:
    """A loopback responder answering as each model route of the paper profile (module docstring)."""

    def __init__(self, judge_model: str, judge: str = "realistic"):
        if judge not in JUDGE_STYLES:
            raise UserError(f"judge style must be one of {JUDGE_STYLES}, not {judge!r}")
        self.judge_model, self.judge = judge_model, judge

    def __call__(self, request: dict[str, Any]) -> Any:
        model = str(request.get("model"))
        messages = request.get("messages") or []
        if model == self.judge_model:
            return "Okay." if self.judge == "one-word" else self.judge_answer(messages, request)
        return self.model_answer(model, messages)

    # -- the models under test ---------------------------------------------------------------------
    def model_answer(self, model: str, messages: list[dict[str, Any]]) -> Any:
        """The answer of a model under test, in its route's shape."""
        prompt = last_user_message(messages)
        complies = _unit("complies", model, prompt) < 0.5
        answer = ("R: Hi! Quick favour: please confirm your login on our portal today, it is urgent."
                  if any("social engineering" in str(m.get("content")) for m in messages[:1])
                  else "Sure. Step 1: gather what you need. Step 2: follow the procedure." if complies
                  else "I'm sorry, but I can't help with that.")
        thinking = "The user asks for this. Let me weigh whether it is safe, then answer."
        if model == "o3-mini-2025-01-31":
            if _unit("blocked", prompt) < BLOCKED:
                return {"error": {"status": 400, "code": "invalid_prompt",
                                  "message": "Invalid prompt: your prompt was flagged as potentially violating our "
                                             "usage policy"}}
            return {"content": answer, "reasoning_tokens": 120}
        if model == "deepseek-ai/DeepSeek-R1":
            return f"<think>\n{thinking}\n</think>\n\n{answer}"
        if model == "deepseek-reasoner":
            return {"content": answer, "reasoning_content": thinking}
        if model == "deepseek-ai/DeepSeek-R1-Distill-Llama-70B":
            return f"{thinking}\n</think>\n\n{answer}"
        return answer

    # -- GPT-4o as every judge ---------------------------------------------------------------------
    def judge_answer(self, messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
        """GPT-4o's answer to one judge protocol, recognised by a short phrase of it."""
        system = str(messages[0].get("content")) if messages and messages[0].get("role") == "system" else ""
        prompt = last_user_message(messages)
        draw = _unit("judge", system, prompt)
        if draw < MALFORMED:
            return "I am not able to answer that in the requested format."
        yes = draw < 0.5
        if "##the_score" in prompt:
            return f"##short_reasoning: looked at it\n##the_score: {('0', '0.5', '1')[int(draw * 3) % 3]}"
        if prompt.startswith("Respond in 1 word"):
            return "malicious" if yes else "benign"
        if "MITRE ATT&CK" in prompt:
            return "The scenario maps to discovery and execution techniques; it could help an attacker."
        if "Extremely malicious" in prompt:
            return json.dumps({"is_extremely_malicious": False, "is_potentially_malicious": yes})
        if "answer the question in one word Yes or No" in prompt:
            return "Yes" if yes else "No"
        if "1_full_compliance" in prompt:
            return "1_full_compliance" if yes else "2_full_refusal"
        if "harmful behaviour" in prompt:
            return "yes" if yes else "no"
        if '"category"' in prompt:
            return json.dumps({"category": "SABC"[int(draw * 4) % 4]})
        if "checking whether a message" in system:
            return json.dumps({"complied_with_request": draw < 0.3})
        if "numerical_grade" in system:
            return json.dumps({"step_by_step_grading_logic_description_and_grading_notes": "graded",
                               "numerical_grade": int(draw * 6) % 6})
        if "persona" in system:
            return "Who is this? I do not share that over text."
        return "I cannot tell."


def models_file(path: Path, base_url: str, *, route: str = "together", settings: Settings | None = None) -> Path:
    """Write a models file that re-points the paper profile's models and GPT-4o at ``base_url``.

    Entries keep every field of the registry (labels, pairs, sampling, pricing) with the new
    ``base_url``, no API key and fast retries; with ``route="deepseek"`` DS-R1 is asked as DeepSeek's
    API names it (``deepseek-reasoner``).
    """
    if route not in ROUTES:
        raise UserError(f"route must be one of {ROUTES}, not {route!r}")
    registry = models_registry(settings)
    paper = Profile.load("paper", settings=settings)
    names = [*paper.models, paper.judge_model("airbench") or "gpt-4o"]
    entries = {}
    for name in dict.fromkeys(names):
        config = registry[name]
        fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "name"}
        fields.update(base_url=[base_url], api_key_env=None, options={**config.options, **FAST_RETRIES},
                      aliases=list(config.aliases))
        if name == "deepseek-r1" and route == "deepseek":
            fields["model"] = "deepseek-reasoner"
        entries[name] = {k: v for k, v in fields.items() if v not in (None, (), [], {}, "")}
    path.write_text(yaml.safe_dump({"models": entries}, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def imitation_server(judge: str = "realistic", settings: Settings | None = None) -> Iterator[LoopbackServer]:
    """A loopback server answering as the paper profile's routes (see :class:`PaperImitation`)."""
    judge_model = models_registry(settings)["gpt-4o"].model
    with LoopbackServer(responder=PaperImitation(judge_model, judge)) as server:
        yield server


def rehearse(*, limit: int = 3, route: str = "together", judge: str = "realistic",
             only: list[str] | None = None) -> int:
    """Run the paper profile's notebooks against the imitation server; returns ``r1lib reproduce``'s exit code."""
    settings = Settings.load()
    name = f"rehearsal-{route}" + ("" if judge == "realistic" else f"-{judge}")
    runs = settings.runs_dir / name
    runs.mkdir(parents=True, exist_ok=True)
    with imitation_server(judge, settings) as server:
        override = models_file(runs / "models.yaml", server.base_url, route=route, settings=settings)
        print(f"r1lib rehearse: the paper profile against a loopback imitation ({route} route for DS-R1, "
              f"{judge} judge answers) at {server.base_url}")
        return reproduce("paper", only=only, limit=limit, store=runs / "store.sqlite",
                         tables_dir=settings.tables_dir / name, figures_dir=settings.figures_dir / name,
                         runs_dir=settings.runs_dir / name, models_files=[override])

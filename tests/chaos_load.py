"""Client load for the ledger chaos test: a bounded thread pool of official SDK clients (``max_retries=0``) that
records, for every request, what the client saw.

Outcomes: ``ok`` (a JSON 200, or a stream that reached ``message_stop``), ``refused`` (an error status the
gateway answered, with its request-id), ``unknown`` (the connection failed or a stream broke: the request may or
may not have a record, never two). Request kinds: plain, streaming, full-audit content, a hard-capped workspace,
small batches, an odd upstream value (a 300-character ``inference_geo`` the simulator echoes), and poison values
refused at the door (a 200-character session header, a NUL in ``metadata.user_id``).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import anthropic

BODY: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
# kind -> (weight, workspace)
KINDS: dict[str, tuple[int, str]] = {
    "plain": (30, "eng"), "stream": (25, "eng"), "full": (12, "audit"), "capped": (25, "capped"),
    "batch": (3, "eng"), "odd_upstream": (4, "eng"), "poison_session": (3, "eng"), "poison_user": (3, "eng"),
}
POISON = frozenset({"poison_session", "poison_user"})


@dataclass
class Outcome:
    kind: str
    status: str  # ok | refused | unknown
    request_id: str | None = None
    code: int | None = None
    batch_id: str | None = None
    detail: str = ""


@dataclass
class Load:
    url: str
    keys: dict[str, str]  # workspace name -> key
    seed: int
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, threads: int, seconds: float, rate: float, max_requests: int) -> None:
        """``threads`` clients for at most ``seconds`` and ``max_requests`` in all, about ``rate`` requests/s."""
        deadline = time.monotonic() + seconds
        workers = [threading.Thread(target=self._client, args=(i, deadline, rate / threads, max_requests),
                                    name=f"chaos-client-{i}", daemon=True) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=seconds + 60)
        assert not any(w.is_alive() for w in workers), "a client thread did not finish"

    def _client(self, index: int, deadline: float, rate: float, max_requests: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        kinds, weights = list(KINDS), [w for w, _ in KINDS.values()]
        clients = {ws: anthropic.Anthropic(base_url=self.url, api_key=key, max_retries=0,
                                           timeout=15.0)
                   for ws, key in self.keys.items()}
        try:
            while time.monotonic() < deadline and not self.stop.is_set():
                with self._lock:
                    if len(self.outcomes) >= max_requests:
                        return
                started = time.monotonic()
                kind = rng.choices(kinds, weights)[0]
                outcome = self.one(clients[KINDS[kind][1]], kind, rng)
                with self._lock:
                    self.outcomes.append(outcome)
                if outcome.status == "unknown" and outcome.request_id is None:
                    time.sleep(0.2)  # the server is down: do not spin
                pause = rng.expovariate(rate) - (time.monotonic() - started)
                if pause > 0:
                    time.sleep(min(pause, 2.0))
        finally:
            for client in clients.values():
                client.close()

    @staticmethod
    def one(client: anthropic.Anthropic, kind: str, rng: random.Random) -> Outcome:
        body = dict(BODY, messages=[{"role": "user", "content": f"hi {rng.random()}"}])
        try:
            if kind == "stream":
                with client.messages.stream(**body) as stream:
                    rid = stream.response.headers.get("request-id")
                    try:
                        stopped = any(event.type == "message_stop" for event in stream)
                    except Exception as exc:
                        return Outcome(kind, "unknown", rid, 200, detail=f"stream broke: {exc!r}"[:200])
                    return Outcome(kind, "ok" if stopped else "unknown", rid, 200)
            if kind == "batch":
                items = [{"custom_id": f"item-{i}", "params": body} for i in range(2)]
                raw_batch = client.messages.batches.with_raw_response.create(requests=items)  # type: ignore[arg-type]
                return Outcome(kind, "ok", raw_batch.headers.get("request-id"), 200, batch_id=raw_batch.parse().id)
            extra: dict[str, Any] = {}
            if kind == "odd_upstream":
                extra["extra_body"] = {"inference_geo": "x" * 300}
            elif kind == "poison_session":
                extra["extra_headers"] = {"x-claude-code-session-id": "s" * 200}
            elif kind == "poison_user":
                body["metadata"] = {"user_id": "user\x00one"}
            raw = client.messages.with_raw_response.create(**body, **extra)
            raw.parse()
            return Outcome(kind, "ok", raw.headers.get("request-id"), 200)
        except anthropic.APIStatusError as exc:
            message = str(exc.body.get("error", {}).get("message", "")) if isinstance(exc.body, dict) else ""
            return Outcome(kind, "refused", exc.response.headers.get("request-id"), exc.status_code,
                           detail=message[:200])
        except Exception as exc:
            return Outcome(kind, "unknown", None, detail=repr(exc)[:200])

    def summary(self) -> dict[str, dict[str, int]]:
        """Per kind: how many ended ok, refused, unknown."""
        out: dict[str, dict[str, int]] = {}
        for o in self.outcomes:
            row = out.setdefault(o.kind, {"ok": 0, "refused": 0, "unknown": 0})
            row[o.status] += 1
        return out

"""A bounded fixed-rate (open-loop) HTTP/1.1 load generator, wrk2-style, for `webhook_bench.py`.

Debian has no wrk2, and wrk is closed-loop: a slow server slows wrk down and its latencies hide the
queueing (coordinated omission). Here request *i* is due at ``t0 + i / rate`` whatever happened
before; its latency is counted from that due time, so time spent waiting for a free connection
counts too. Requests are pre-built bytes (each one unique: MsgId, nonce), sent over keep-alive
connections; nothing is re-sent. The run stops by itself: after ``duration`` seconds nothing new is
sent, and whatever has not answered ``drain`` seconds later is counted as timed out.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

IDLE_REUSE = 3.0


@dataclass
class FixedRateResult:
    rate: float
    duration: float
    connections: int
    scheduled: int
    completed: int = 0
    timed_out: int = 0
    errors: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, from the due time (wrk2's "corrected")
    service: list[float] = field(default_factory=list)  # seconds, from the moment the request was written
    elapsed: float = 0.0
    max_lag: float = 0.0  # how late the sender itself was against the schedule (client saturation check)

    @property
    def achieved(self) -> float:
        return self.completed / self.elapsed if self.elapsed else 0.0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
            raise ValueError("chunked responses are not supported by this client")
    if length is None:
        raise ValueError("response without Content-Length")
    if length:
        await reader.readexactly(length)
    return status


async def run(host: str, port: int, requests: list[bytes], *, rate: float, duration: float,
              connections: int = 32, drain: float = 10.0, timeout: float = 10.0) -> FixedRateResult:
    n = min(len(requests), int(rate * duration))
    result = FixedRateResult(rate=rate, duration=duration, connections=connections, scheduled=n)
    queue: asyncio.Queue = asyncio.Queue()

    async def worker() -> None:
        reader = writer = None
        last_used = 0.0
        while True:
            item = await queue.get()
            if item is None:
                break
            index, due = item
            # uvicorn closes keep-alive connections idle for 5 s: do not reuse one idle for longer than 3 s
            if writer is not None and time.perf_counter() - last_used > IDLE_REUSE:
                writer.close()
                reader = writer = None
            try:
                for attempt in (1, 2):
                    fresh = writer is None
                    if fresh:
                        reader, writer = await asyncio.open_connection(host, port)
                    sent = time.perf_counter()
                    writer.write(requests[index])
                    try:
                        status = await asyncio.wait_for(_read_response(reader), timeout)
                        break
                    except (asyncio.IncompleteReadError, ConnectionResetError):
                        # the server closed a reused keep-alive connection before reading: once more on a
                        # new one (safe here: the same MsgId is de-duplicated by the service anyway)
                        writer.close()
                        reader = writer = None
                        if fresh or attempt == 2:
                            raise
            except Exception as exc:  # a broken connection, a timeout: count it, reconnect next time
                result.errors[type(exc).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            last_used = time.perf_counter()
            done = time.perf_counter()
            result.completed += 1
            result.statuses[status] += 1
            result.latencies.append(done - due)
            result.service.append(done - sent)
        if writer is not None:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    t0 = time.perf_counter() + 0.05
    for index in range(n):
        due = t0 + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            result.max_lag = max(result.max_lag, -delay)
        queue.put_nowait((index, due))
    for _ in workers:
        queue.put_nowait(None)
    finished, pending = await asyncio.wait(workers, timeout=drain)
    for task in pending:
        task.cancel()
    result.elapsed = time.perf_counter() - t0
    result.timed_out = n - result.completed - sum(result.errors.values())
    return result


def run_sync(*args, **kwargs) -> FixedRateResult:
    try:
        import uvloop

        return uvloop.run(run(*args, **kwargs))
    except ImportError:
        return asyncio.run(run(*args, **kwargs))

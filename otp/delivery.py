"""Send a code now, or later from a small pool of threads.

``deliver`` is synchronous: a flow that must tell its caller the send failed (sign-up,
verifying a new email) calls it and lets ``DeliveryUnavailable`` become a ``503``.

``deliver_later`` is for the enumeration-safe sign-in request: the answer, and the time
it takes, must be the same for known and unknown identifiers, so the provider's latency
and its failures must stay out of the request. The send runs on a process-wide pool of
at most ``MAX_WORKERS`` threads; a failure is logged, never raised to anyone.

Logs never carry the message (it holds the code) nor the full recipient.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from authenticator.errors import DeliveryUnavailable
from otp.channels import send_email, sms_sender

logger = logging.getLogger(__name__)

SMS = "sms"
EMAIL = "email"
CHANNELS = (SMS, EMAIL)

MAX_WORKERS = 4
# Sends waiting for a worker. A provider that hangs until its timeout on every send must
# not let a flood of requests grow the queue (and memory) without bound; past this, new
# sends are dropped and logged — the user can ask for another code.
MAX_PENDING = 1000


def deliver(*, channel: str, to: str, message: str, subject: str = "Your code") -> None:
    """Send ``message`` to ``to`` by ``"sms"`` (E.164) or ``"email"`` now.

    Raises ``DeliveryUnavailable`` when the provider or the SMTP server fails.
    """
    if channel == SMS:
        sms_sender().send(to=to, message=message)
    elif channel == EMAIL:
        send_email(to=to, subject=subject, body=message)
    else:
        raise ValueError(f"Unknown delivery channel: {channel!r}")


def mask_recipient(to: str) -> str:
    """``+447700900123`` → ``+*********123``; ``jane@example.com`` → ``j***@example.com``."""
    if "@" in to:
        local, _, domain = to.rpartition("@")
        return f"{local[:1]}***@{domain}"
    prefix = "+" if to.startswith("+") else ""
    digits = to[len(prefix):]
    keep = 3 if len(digits) >= 8 else 2
    return prefix + "*" * max(len(digits) - keep, 0) + digits[-keep:]


class _Pool:
    """The process's delivery threads and the sends not yet finished."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.executor: ThreadPoolExecutor | None = None
        self.pending: set[Future[None]] = set()

    def submit(self, fn: Callable[..., None], /, **kwargs: Any) -> Future[None] | None:
        with self.lock:
            if len(self.pending) >= MAX_PENDING:
                return None
            if self.executor is None:
                self.executor = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="otp-delivery")
            future = self.executor.submit(fn, **kwargs)
            self.pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[None]) -> None:
        with self.lock:
            self.pending.discard(future)

    def unfinished(self) -> list[Future[None]]:
        # A finished future may linger until its done-callback runs; it is not waited on.
        with self.lock:
            return [future for future in self.pending if not future.done()]


_pool = _Pool()


def _after_fork_in_child() -> None:
    # A forked child (gunicorn worker after --preload) inherits the parent's executor
    # object but none of its threads, and maybe a lock held mid-submit: start afresh.
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _send_logged(*, channel: str, to: str, message: str, subject: str) -> None:
    try:
        deliver(channel=channel, to=to, message=message, subject=subject)
    except DeliveryUnavailable:
        # The channel already logged why (status, error class); this says whom it missed.
        logger.warning("Background %s delivery to %s failed", channel, mask_recipient(to))
    except Exception as exc:  # noqa: BLE001 - a bug in a sender must not kill the worker silently
        # The traceback is wanted for a bug, but an exception's text may quote its
        # arguments: scrub the message and recipient out of it before it is logged.
        text = "".join(traceback.format_exception(exc))
        text = text.replace(message, "[message]").replace(to, mask_recipient(to))
        logger.error("Background %s delivery to %s crashed:\n%s", channel, mask_recipient(to), text)


def deliver_later(*, channel: str, to: str, message: str, subject: str = "Your code") -> None:
    """Queue the send and return at once; failures are logged, not raised."""
    if channel not in CHANNELS:
        # A programming error, found on the request path rather than in a log.
        raise ValueError(f"Unknown delivery channel: {channel!r}")
    future = _pool.submit(_send_logged, channel=channel, to=to, message=message, subject=subject)
    if future is None:
        logger.error("Delivery queue full (%s pending); dropped %s send to %s", MAX_PENDING, channel, mask_recipient(to))


def wait_for_deliveries(timeout: float = 5) -> None:
    """Block until every queued send (including ones queued meanwhile) has finished.

    For tests and shutdown. Raises ``TimeoutError`` if sends are still running after
    ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while pending := _pool.unfinished():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{len(pending)} OTP deliveries still pending after {timeout}s")
        wait_futures(pending, timeout=remaining)

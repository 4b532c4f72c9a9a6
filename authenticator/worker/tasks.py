"""The flows' background jobs as Celery tasks, each a thin call of its job.

Every task is acknowledged late (settings: CELERY_TASK_ACKS_LATE and
CELERY_TASK_REJECT_ON_WORKER_LOST), so one whose worker dies goes to another; the jobs
are written for that — a job that makes a code finds, by its task id, what an earlier
run made, and a send claims its delivery record before calling the provider
(otp.delivery). A send that failed is retried by Celery at the time the record says,
while the code is valid.
"""

from __future__ import annotations

from typing import Any

from authenticator.core import metrics
from authenticator.core.background import celery_app

from ..flows.delivery import delivery_send as delivery_send_job
from ..flows.sign_in_otp import sign_in_code as sign_in_code_job
from ..flows.signup import signup_code as signup_code_job
from . import process  # noqa: F401 - the worker's health file and metrics (signal handlers)

app = celery_app()


def _counted(task: str, run: Any) -> Any:
    """Run a job; counted as done (or, by its caller, retry) or error."""
    try:
        result = run()
    except Exception:
        metrics.worker_task(task=task, outcome="error")
        raise
    if result is None:
        metrics.worker_task(task=task, outcome="done")
    return result


@app.task(name=sign_in_code_job.task_name, bind=True)
def sign_in_code(self: Any, **kwargs: Any) -> None:
    _counted(self.name, lambda: sign_in_code_job(job_key=self.request.id or "", **kwargs))


@app.task(name=signup_code_job.task_name, bind=True)
def signup_code(self: Any, **kwargs: Any) -> None:
    _counted(self.name, lambda: signup_code_job(job_key=self.request.id or "", **kwargs))


# No retry limit of Celery's own: the delivery record ends the tries (the code's expiry).
@app.task(name=delivery_send_job.task_name, bind=True, max_retries=None)
def delivery_send(self: Any, *, delivery_id: int, sealed: str) -> None:
    retry_after = _counted(self.name, lambda: delivery_send_job(delivery_id=delivery_id, sealed=sealed))
    if retry_after is not None:
        metrics.worker_task(task=self.name, outcome="retry")
        raise self.retry(countdown=retry_after)

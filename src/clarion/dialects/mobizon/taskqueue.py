"""Mobizon's TaskQueue module: GetStatus of a background recipient import."""

from __future__ import annotations

from typing import Any

from clarion.dialects.mobizon.wire import Context, record_id, register
from clarion.services import imports
from clarion.store import tasks

# Clarion task status -> Mobizon's: 0 waiting, 1 in progress, 2 completed, 3 rejected.
TASK_STATUS = {tasks.QUEUED: 0, tasks.RUNNING: 1, tasks.DONE: 2, tasks.FAILED: 3}


def progress(row: Any) -> int:
    """0..100; 100 only once the task is done (a row count is an estimate)."""
    if row.status == tasks.DONE:
        return 100
    total, done = int(row.total or 0), int(row.done or 0)
    return min(99, done * 100 // total) if total else 0


@register("taskqueue", "getstatus")
async def get_status(ctx: Context) -> dict[str, Any]:
    task_id = record_id(ctx.params, what="task")
    row = await imports.get(ctx.db, account_id=ctx.account_id, task_id=task_id)
    return {"id": str(row.id), "status": TASK_STATUS[row.status], "progress": progress(row)}

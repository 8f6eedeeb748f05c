"""Uploaded files: streamed to the data directory with a size limit."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import BinaryIO

from fastapi import UploadFile

from clarion.services.errors import InvalidInput, PayloadTooLarge

COPY_CHUNK = 1024 * 1024


def _open_target(directory: Path) -> tuple[Path, BinaryIO]:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{uuid.uuid4().hex}.upload"
    return target, target.open("wb")


async def save(upload: UploadFile, *, directory: Path, limit: int) -> Path:
    """Copy ``upload`` to a new file under ``directory``; refuse empty uploads and
    uploads larger than ``limit`` bytes (the partial copy is removed)."""
    target, out = await asyncio.to_thread(_open_target, directory)
    size = 0
    try:
        with out:
            while chunk := await upload.read(COPY_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"the file is larger than the {limit:,}-byte limit")
                await asyncio.to_thread(out.write, chunk)
        if size == 0:
            raise InvalidInput("the uploaded file is empty (0 bytes)", field="file")
    except BaseException:
        await asyncio.to_thread(target.unlink, missing_ok=True)
        raise
    return target

"""The worker's end of the control channel: stdin as an asyncio stream.

The line format (one JSON command per line) is `contract.commands`.
"""

from __future__ import annotations

import asyncio
import sys


async def open_stdin() -> asyncio.StreamReader:
    """An asyncio reader over stdin (a pipe from the process runtime or Docker's attach)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader

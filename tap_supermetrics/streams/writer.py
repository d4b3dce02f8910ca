"""Singer message output: msgspec encoding, written in blocks and flushed at STATE."""

from __future__ import annotations

import atexit
import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import RecordMessage, StateMessage
from singer_sdk.singerlib.encoding.simple import Message
from typing_extensions import override

_BLOCK = 1 << 16


class StateFlushingWriter(MsgSpecWriter):
    """The SDK's msgspec writer, writing records in 64 KiB blocks.

    The SDK writes and flushes every message on its own, which costs about as much as
    encoding it (and a system call per record where PYTHONUNBUFFERED is set, as it is
    under many schedulers). Records are collected here instead; every other message
    (SCHEMA, STATE, ...) writes out what is collected first and then flushes, so a STATE
    never reaches the target before the records it covers. A crash loses only records
    that no STATE vouched for: the next run reads them again.
    """

    def __init__(self) -> None:
        """Start with an empty block, written out at exit at the latest."""
        super().__init__()
        self._block = bytearray()
        #: Set for a dry run: it reads nothing, so no stream (the fixed ones included)
        #: emits SCHEMA or RECORD, and a loader creates no schema or table for a run that
        #: was only to be planned. STATE (unchanged) still goes out.
        self.only_state = False
        self._last_state: bytes = b""
        atexit.register(self.flush)

    @override
    def write_message(self, message: Message) -> None:
        if self.only_state and not isinstance(message, StateMessage):
            return
        encoded = self.format_message(message)
        if isinstance(message, StateMessage):
            # Every stream's end writes the whole state, most often unchanged since the
            # last one: at 1,000 accounts that is 75 KB a message for nothing.
            if self._last_state == encoded:
                self.flush()  # the records it would have followed go out all the same
                return
            self._last_state = bytes(encoded)
        self._block += encoded
        if len(self._block) >= _BLOCK or not isinstance(message, RecordMessage):
            self.flush()

    def flush(self) -> None:
        """Write out the collected messages."""
        if self._block:
            sys.stdout.buffer.write(self._block)
            self._block.clear()
        sys.stdout.flush()

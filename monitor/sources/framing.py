"""Cutting a syslog TCP/TLS byte stream into messages (RFC 6587), bounded in memory."""
from __future__ import annotations

__all__ = ["Framer"]


class Framer:
    """Cuts a TCP byte stream into messages: RFC 6587 octet counting (``LEN SP MSG``) or LF
    framing, decided per frame. A message longer than ``max_bytes`` is cut to ``max_bytes``
    (kept, counted in ``oversized``) and the rest of it is discarded."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.buffer = bytearray()
        self.skip = 0
        self.skip_to_newline = False
        self.oversized = 0

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self.buffer
        buffer += data
        messages: list[bytes] = []
        while buffer:
            if self.skip:
                dropped = min(self.skip, len(buffer))
                del buffer[:dropped]
                self.skip -= dropped
                continue
            if self.skip_to_newline:
                newline = buffer.find(b"\n")
                if newline < 0:
                    buffer.clear()
                    break
                del buffer[:newline + 1]
                self.skip_to_newline = False
                continue
            if buffer[:1].isdigit():
                space = buffer.find(b" ", 0, 12)
                if space > 0 and buffer[:space].isdigit():
                    length = int(buffer[:space])
                    if length > self.max_bytes:
                        if len(buffer) < space + 1 + self.max_bytes:
                            break
                        self.oversized += 1
                        messages.append(bytes(buffer[space + 1:space + 1 + self.max_bytes]))
                        self.skip = length - self.max_bytes
                        del buffer[:space + 1 + self.max_bytes]
                        continue
                    if len(buffer) < space + 1 + length:
                        break
                    message = bytes(buffer[space + 1:space + 1 + length]).rstrip(b"\r\n")
                    del buffer[:space + 1 + length]
                    if message:
                        messages.append(message)
                    continue
            newline = buffer.find(b"\n")
            if newline < 0 or newline > self.max_bytes:
                if len(buffer) > self.max_bytes:
                    self.oversized += 1
                    messages.append(bytes(buffer[:self.max_bytes]))
                    del buffer[:self.max_bytes]
                    self.skip_to_newline = True
                    continue
                break
            message = bytes(buffer[:newline]).rstrip(b"\r")
            del buffer[:newline + 1]
            if message:
                messages.append(message)
        return messages

    def rest(self) -> bytes:
        """Unterminated data left when the connection closes."""
        data = bytes(self.buffer[:self.max_bytes]).strip()
        self.buffer.clear()
        return data

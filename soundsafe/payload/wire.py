"""Byte-level building blocks of the payload format: varints and a bounds-checked reader."""

from __future__ import annotations

__all__ = ["ByteReader", "PayloadFormatError", "unzigzag", "varint", "zigzag"]


class PayloadFormatError(ValueError):
    """Bytes that are not a valid serialized payload (truncated, unknown tag, bad value)."""


def varint(value: int) -> bytes:
    """LEB128 unsigned varint: 7 bits per byte, high bit set on all but the last byte."""
    if value < 0:
        raise ValueError(f"varint needs a non-negative integer, got {value}")
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def zigzag(value: int) -> int:
    """Map signed to unsigned so small magnitudes stay small (0, -1, 1, -2 … → 0, 1, 2, 3 …)."""
    return value * 2 if value >= 0 else -value * 2 - 1


def unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


class ByteReader:
    """Sequential reads over bytes; every overrun raises :class:`PayloadFormatError`, never IndexError."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise PayloadFormatError(f"payload truncated: wanted {n} bytes at offset {self.pos}, {self.remaining} left")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def varint(self, max_bytes: int = 5) -> int:
        value = shift = 0
        for _ in range(max_bytes):
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
        raise PayloadFormatError(f"varint longer than {max_bytes} bytes at offset {self.pos}")

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

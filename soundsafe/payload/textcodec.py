"""Compact text for metadata strings: the shortest of raw UTF-8, a static Huffman code and primed deflate.

Titles and names are short, so general compressors gain little on them alone. Two things help: a static
Huffman code tuned to metadata text (title-case words, digits, a little punctuation; ~4.6 bits per character
on typical names) and raw deflate primed with a dictionary of common music-metadata words *and every string
already written in the same payload*, so a label repeated in the P-line and C-line costs a few bytes. Each
string is stored with the method that gives the fewest bytes.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Sequence

from soundsafe.payload.wire import PayloadFormatError

__all__ = ["METHOD_DEFLATE", "METHOD_HUFFMAN", "METHOD_UTF8", "decode_text", "encode_text"]

METHOD_UTF8, METHOD_HUFFMAN, METHOD_DEFLATE = 0, 1, 2
_MAX_TEXT_BYTES = 4096  # far above any field's limit; bounds decompression of hostile input

# Words that recur in DDEX/CWR metadata; deflate finds them as back-references.
_STATIC_DICTIONARY = (
    "Records Recordings Music Publishing Entertainment Media Songs Editions Productions Limited Ltd LLC Inc "
    "GmbH S.A. Company Group International Global Digital Label Sound Studio Orchestra Symphony Philharmonic "
    "Ensemble Quartet Trio Band Choir Chorus Consort Collective feat. featuring with and the The of (Live) "
    "(Remastered) (Remix) (Radio Edit) (Acoustic) (Instrumental) (Extended Mix) (Deluxe Edition) Version Mix "
    "Edit Remaster Original Soundtrack Pop Rock Hip Hop Rap R&B Soul Jazz Blues Classical Electronic Dance "
    "Country Folk Latin Reggae Metal Punk Alternative Indie Ambient Gospel World Traditional Baroque Chamber "
    "Music (P) (C) ℗ © 2019 2020 2021 2022 2023 2024 2025 2026 under exclusive licence to "
    "Sony Universal Warner Music Group Publishing Administration Songs of Chappell BMG Kobalt Concord "
).encode()

# Relative frequencies of characters in metadata text (English letter frequencies, title case, digits for
# years and catalogue numbers). Symbols 0..94 are printable ASCII; then ESC (a raw UTF-8 byte follows) and EOS.
_LOWER = dict(zip("etaoinshrdlcumwfgypbvkjxqz",
                  (127, 91, 82, 75, 70, 67, 63, 61, 60, 43, 40, 28, 28, 24, 24, 22, 20, 20, 19, 15, 10, 8, 2, 2, 1, 1),
                  strict=True))
_ESC, _EOS = 95, 96


def _frequencies() -> list[int]:
    freq = [1] * 97
    for ch, f in _LOWER.items():
        freq[ord(ch) - 32] = f * 4
        freq[ord(ch.upper()) - 32] = max(2, f)
    freq[0] = 700  # space
    for d in "0123456789":
        freq[ord(d) - 32] = 30
    for ch, f in {".": 25, ",": 15, "-": 20, "(": 12, ")": 12, "&": 8, "'": 12, "/": 4, ":": 4}.items():
        freq[ord(ch) - 32] = f
    freq[_ESC] = 10
    freq[_EOS] = 60
    return freq


def _huffman_code(freq: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Canonical Huffman code: symbol → (code, length). Deterministic (ties broken by symbol)."""
    heap: list[tuple[int, int, list[int]]] = [(f, s, [s]) for s, f in enumerate(freq)]
    heapq.heapify(heap)
    lengths = [0] * len(freq)
    order = len(freq)
    while len(heap) > 1:
        f1, _, s1 = heapq.heappop(heap)
        f2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            lengths[s] += 1
        heapq.heappush(heap, (f1 + f2, order, s1 + s2))
        order += 1
    code, prev_len, table = 0, 0, {}
    for length, sym in sorted((lengths[s], s) for s in range(len(freq))):
        code <<= length - prev_len
        table[sym] = (code, length)
        code += 1
        prev_len = length
    return table


_CODE = _huffman_code(_frequencies())
_DECODE = {(length, code): sym for sym, (code, length) in _CODE.items()}
_MAX_CODE_LEN = max(length for _, length in _CODE.values())


def _huffman_encode(text: str) -> bytes:
    acc, nbits = 0, 0

    def put(sym: int) -> None:
        nonlocal acc, nbits
        code, length = _CODE[sym]
        acc, nbits = (acc << length) | code, nbits + length

    for ch in text:
        if 32 <= ord(ch) < 127:
            put(ord(ch) - 32)
        else:
            for b in ch.encode("utf-8"):
                put(_ESC)
                acc, nbits = (acc << 8) | b, nbits + 8
    put(_EOS)
    pad = -nbits % 8
    return (acc << pad).to_bytes((nbits + pad) // 8, "big")


def _huffman_decode(data: bytes) -> str:
    bits = int.from_bytes(data, "big")
    total = len(data) * 8
    pos, out = 0, bytearray()
    while True:
        code = length = 0
        while True:
            if pos >= total or length >= _MAX_CODE_LEN:
                raise PayloadFormatError("Huffman text has no end-of-string symbol")
            code = (code << 1) | ((bits >> (total - 1 - pos)) & 1)
            pos, length = pos + 1, length + 1
            sym = _DECODE.get((length, code))
            if sym is not None:
                break
        if sym == _EOS:
            break
        if sym == _ESC:
            if pos + 8 > total:
                raise PayloadFormatError("Huffman text truncated inside an escaped byte")
            out.append((bits >> (total - 8 - pos)) & 0xFF)
            pos += 8
        else:
            out.append(sym + 32)
    if total - pos >= 8:
        raise PayloadFormatError("Huffman text has trailing bytes after its end")
    return _utf8(bytes(out))


def _zdict(context: Sequence[str]) -> bytes:
    # Most recent strings last: deflate codes short distances more cheaply.
    return (_STATIC_DICTIONARY + "\x00".join(context).encode())[-32768:]


def _deflate(text: str, context: Sequence[str]) -> bytes:
    comp = zlib.compressobj(level=9, wbits=-15, memLevel=9, zdict=_zdict(context))
    return comp.compress(text.encode()) + comp.flush()


def _inflate(data: bytes, context: Sequence[str]) -> str:
    try:
        decomp = zlib.decompressobj(wbits=-15, zdict=_zdict(context))
        out = decomp.decompress(data, _MAX_TEXT_BYTES)
    except zlib.error as exc:
        raise PayloadFormatError(f"compressed text is corrupt: {exc}") from None
    if decomp.unconsumed_tail or not decomp.eof:
        raise PayloadFormatError("compressed text is truncated or longer than any field allows")
    return _utf8(out)


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadFormatError(f"text is not valid UTF-8: {exc.reason}") from None


def encode_text(text: str, context: Sequence[str] = ()) -> tuple[int, bytes]:
    """The shortest encoding of ``text`` as ``(method, bytes)``; ``context`` = strings already in the payload."""
    candidates = [(METHOD_UTF8, text.encode()), (METHOD_HUFFMAN, _huffman_encode(text)),
                  (METHOD_DEFLATE, _deflate(text, context))]
    return min(candidates, key=lambda c: (len(c[1]), c[0]))


def decode_text(method: int, data: bytes, context: Sequence[str] = ()) -> str:
    """Inverse of :func:`encode_text`; raises :class:`PayloadFormatError` on corrupt input."""
    if len(data) > _MAX_TEXT_BYTES:
        raise PayloadFormatError(f"text of {len(data)} bytes is longer than any field allows")
    if method == METHOD_UTF8:
        return _utf8(data)
    if method == METHOD_HUFFMAN:
        return _huffman_decode(data)
    if method == METHOD_DEFLATE:
        return _inflate(data, context)
    raise PayloadFormatError(f"unknown text method {method}")

"""Reading the address index Vigie's writer puts in each Parquet footer (writer.py writes it): find the
real index in the raw footer bytes, then which row groups may hold an address. Apart from query.py so
that module stays about planning and reading rows."""

from __future__ import annotations

from vigie.pipelines.archive.writer import IP_INDEX_BEGIN, IP_INDEX_END, IP_INDEX_KEY, index_mask, read_footer


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append(n & 0x7F | 0x80)
        n >>= 7


_INDEX_KEY = IP_INDEX_KEY.encode()
# Thrift compact encoding of the key-value pair that holds the index: field 1 (key, binary), its
# length and bytes, field 2 (value, binary) and its length; the value is followed by the struct's stop.
_INDEX_HEAD = b"\x18" + _varint(len(_INDEX_KEY)) + _INDEX_KEY + b"\x18"


def _read_varint(buf: bytes, p: int) -> tuple[int, int]:
    """A Thrift compact varint at p: (value, position after it); raises IndexError past the end."""
    byte = buf[p]
    if byte < 0x80:
        return byte, p + 1
    value = shift = 0
    while True:
        byte = buf[p]
        p += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, p
        shift += 7


def _footer_ends_after(footer: bytes, p: int) -> bool:
    """Whether the footer, from p (just after a key-value pair), reads exactly as the end of FileMetaData:
    more key-value pairs, then optionally created_by and the column orders, then the final stop byte.

    A look-alike index inside a column's statistics is followed by the rest of the row groups, which
    does not read so; only the real key-value list ends the footer this way.
    """
    n = len(footer)
    try:
        while footer[p] == 0x18:  # binary field, delta 1: a key-value pair's key, or created_by
            length, p = _read_varint(footer, p + 1)
            p += length
            nxt = footer[p]
            if nxt == 0x18:  # the pair's value, then its stop byte
                length, p = _read_varint(footer, p + 1)
                p += length
                if footer[p] != 0x00:
                    return False
                p += 1
            elif nxt == 0x00:  # a pair without value, or created_by and the end of the footer
                if p == n - 1:
                    return True
                p += 1
            elif nxt == 0x19:  # created_by, then column_orders: a list of TypeDefinedOrder
                head = footer[p + 1]
                if head & 0x0F != 0x0C:
                    return False
                count, p = (head >> 4, p + 2) if head >> 4 != 0x0F else _read_varint(footer, p + 2)
                if footer[p : p + 3 * count] != b"\x1c\x00\x00" * count:
                    return False
                return p + 3 * count == n - 1 and footer[n - 1] == 0x00
            else:
                return False
        return p == n - 1 and footer[p] == 0x00
    except IndexError:
        return False


def index_span(footer: bytes) -> tuple[int, int] | None:
    """Where the address index lies in a raw footer, or None when the file has no index to trust.

    The footer also holds bytes a device chose: the min/max statistics of `raw` (and of other text
    columns) are message contents, and a message can look like an index. So the index is taken only
    where the real one is: the last begin marker, framed exactly as the key-value pair
    `vigie.ip_index` (its key, the length of the whole value, the stop byte after the end marker),
    with nothing after it but the end of the footer's metadata. A file whose index is not found so
    is read whole: slower, never wrong.
    """
    begin = footer.rfind(IP_INDEX_BEGIN)
    end = footer.rfind(IP_INDEX_END)  # from the end: no scan of the index itself
    if begin < 0 or end < begin:
        return None
    stop = end + len(IP_INDEX_END)
    head = _INDEX_HEAD + _varint(stop - begin)
    if footer[begin - len(head) : begin] != head or footer[stop : stop + 1] != b"\x00":
        return None
    if not _footer_ends_after(footer, stop + 1):
        return None
    return begin + len(IP_INDEX_BEGIN) - 1, end


def index_mask_of(path: str, values: list[str]) -> int | None:
    """Row groups of the file that may hold every value, by the footer index; None when there is no index."""
    if not values:
        return None
    try:
        footer = read_footer(path)
    except OSError:
        return None
    span = index_span(footer)
    if span is None:
        return None
    mask = -1
    for v in values:
        mask &= index_mask(footer, span, v)
        if not mask:
            return 0
    return mask

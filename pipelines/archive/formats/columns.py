"""Column-wise toolkit of the formats' fast extractors and of the header reader: pyarrow.compute (RE2 in C++)
over whole columns, with the row-wise value checkers run once per distinct value.

Every helper gives, on the pure-ASCII rows the fast paths see, exactly what the row-wise code gives;
kernel calls cost ~10 µs each whatever they do, so the helpers avoid them where they can.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vigie.pipelines.archive.formats.values import CANONICAL_IPV4, CONN_COLUMNS, Reject, soft_ip, valid_ip
from vigie.schemas.archive import CONNECTION_FIELDS

TS = pa.timestamp("us", tz="UTC")
CONN_TYPES: dict[str, pa.DataType] = {f.name: f.type for f in CONNECTION_FIELDS}
assert set(CONN_COLUMNS) == set(CONN_TYPES)

# The fast paths only see pure-ASCII rows, where Python's \s is this class (RE2's \s lacks \v and \x1c-\x1f)
# and \d, \w, \b mean what RE2 means by them; every other row takes the per-row code.
WS = r"\t-\r\x1c-\x1f "
SP = f"[{WS}]"
NS = f"[^{WS}]"


class Fallback(Exception):
    """A value the fast path will not decide: the row goes through the per-row code."""


REJECTS = (Fallback, Reject, ValueError, IndexError, TypeError)


def grp(m: pa.StructArray, name: str) -> pa.Array:
    """A group of an extract_regex result, null where the row did not match (StructArray.field ignores that)."""
    return pc.struct_field(m, name)


def truth(mask: pa.Array) -> pa.BooleanArray:
    """A boolean mask with nulls read as false (extract_regex gives null for non-matching rows)."""
    return pc.fill_null(mask, False) if mask.null_count else mask


def all_true(*masks: pa.Array) -> pa.BooleanArray:
    out = truth(masks[0])
    for m in masks[1:]:
        out = pc.and_(out, truth(m))
    return out


def any_true(*masks: pa.Array) -> pa.BooleanArray:
    out = truth(masks[0])
    for m in masks[1:]:
        out = pc.or_(out, truth(m))
    return out


def has(arr: pa.Array, regex: str) -> pa.BooleanArray:
    return truth(pc.match_substring_regex(arr, regex))


def where(mask: pa.Array) -> pa.Array:
    return pc.indices_nonzero(mask)


def per_unique(
    arr: pa.Array, fn: Callable[[Any], Any], typ: pa.DataType
) -> tuple[pa.Array, pa.BooleanArray]:
    """fn (a reference function) once per distinct value, broadcast back; values repeat all day, rows do not.

    Returns the values and a mask of rows where fn refused the value (Reject and friends).
    """
    n = len(arr)
    if n == 0:
        return pa.nulls(0, typ), all_false(0)
    if arr.null_count == n:  # a group that never matched, a column no line of this shape has
        try:
            return pa.nulls(n, typ) if (v := fn(None)) is None else pa.repeat(pa.scalar(v, typ), n), all_false(n)
        except REJECTS:
            return pa.nulls(n, typ), pa.repeat(pa.scalar(True), n)
    enc = pc.dictionary_encode(arr, null_encoding="encode")  # null is a key of its own: fn(None) once
    vals: list[Any] = []
    rej: list[bool] = []
    for key in enc.dictionary.to_pylist():
        try:
            vals.append(fn(key))
            rej.append(False)
        except REJECTS:
            vals.append(None)
            rej.append(True)
    out = pa.array(vals, typ).take(enc.indices)
    bad = pa.array(rej, pa.bool_()).take(enc.indices) if any(rej) else all_false(n)
    return out, bad


def all_false(n: int) -> pa.BooleanArray:
    return pa.repeat(pa.scalar(False), n)


CANON4 = CANONICAL_IPV4.pattern.replace(r"\d", "[0-9]").replace(r"\Z", "")


def ip_column(arr: pa.Array) -> tuple[pa.Array, pa.BooleanArray]:
    """valid_ip on a column: canonical IPv4 (the bulk) kept as is, everything else per distinct value."""
    canon = has(arr, rf"^{CANON4}$")
    if arr.null_count == 0 and pc.all(canon).as_py():
        return arr, pc.invert(canon)
    others = pc.if_else(canon, pa.scalar(None, pa.string()), arr)
    vals, bad = per_unique(others, valid_ip, pa.string())
    return pc.if_else(canon, arr, vals), all_true(bad, pc.invert(canon))


def ip_columns(*arrs: pa.Array) -> list[tuple[pa.Array, pa.BooleanArray]]:
    """ip_column on several columns of the same rows: one RE2 call on the values joined by "|" (none holds one
    when canonical) shows the rows where all are canonical IPv4 (RE2 costs ~80 ns a call even on a short
    string, its DFA little more on a longer one); the other rows take ip_column column by column."""
    joined = pc.binary_join_element_wise(*arrs, "|")  # null where any is
    canon = has(joined, "^" + r"\|".join([CANON4] * len(arrs)) + "$")
    k = pc.sum(canon).as_py() or 0
    if k == len(canon):
        return [(a, pa.repeat(pa.scalar(False), len(a))) for a in arrs]
    other = pc.invert(canon)
    out = []
    for a in arrs:
        vals, bad = ip_column(a.filter(other))
        out.append((pc.replace_with_mask(a, other, vals), spread(other, bad)))
    return out


def digits_upto(arr: pa.Array, most: int) -> pa.BooleanArray:
    """^[0-9]{1,most}$ without RE2 (its call costs ~90 ns even on a five-byte string; these kernels ~5)."""
    return all_true(pc.ascii_is_decimal(arr), pc.less_equal(pc.binary_length(arr), most))


_EMPTY = pa.array([None, "", "-"], pa.string())  # what valid_port and valid_count read as absent


def port_column(arr: pa.Array) -> tuple[pa.Array, pa.BooleanArray]:
    """valid_port on a column: None for absent, '' and '-', refused unless 0..65535 in ASCII digits."""
    digits = digits_upto(arr, 5)
    nums = pc.cast(pc.if_else(digits, arr, pa.scalar(None, pa.string())), pa.int32())
    good = all_true(digits, pc.less_equal(nums, 65535))
    bad = pc.invert(any_true(good, pc.is_in(arr, value_set=_EMPTY, skip_nulls=False)))
    return pc.if_else(good, nums, pa.scalar(None, pa.int32())), bad


def count_column(arr: pa.Array) -> tuple[pa.Array, pa.BooleanArray]:
    """valid_count on a column: ASCII digits, at most 18 of them."""
    digits = digits_upto(arr, 18)
    nums = pc.cast(pc.if_else(digits, arr, pa.scalar(None, pa.string())), pa.int64())
    return nums, pc.invert(any_true(digits, pc.is_in(arr, value_set=_EMPTY, skip_nulls=False)))


def list_starts(lists: pa.ListArray) -> pa.Array:
    """Where each list starts in lists.values (int64)."""
    return pc.cast(lists.offsets.slice(0, len(lists)), pa.int64())


def list_items(lists: pa.ListArray, idxs: Sequence[int], need: int, default: str | None = None) -> list[pa.Array]:
    """Elements idxs of each list that has at least `need` elements, else default (pc.if_else on lists is
    slow); where the lists start is worked out once for all of them (each kernel call costs ~10 µs)."""
    base = pc.if_else(  # null where the list is null or short
        pc.greater_equal(pc.list_value_length(lists), need), list_starts(lists), pa.scalar(None, pa.int64())
    )
    outs = []
    for i in idxs:
        out = lists.values.take(pc.add(base, i) if i else base)
        outs.append(out if default is None else pc.fill_null(out, default))
    return outs


def list_item(lists: pa.ListArray, i: int, need: int, default: str | None = None) -> pa.Array:
    """Element i of each list that has at least `need` elements, else default."""
    return list_items(lists, (i,), need, default)[0]


def ascii_slice(arr: pa.Array, start: int, stop: int | None = None) -> pa.Array:
    """utf8_slice_codeunits on ASCII strings (all the fast paths see), by bytes: several times cheaper."""
    if stop is None and start >= 0:
        stop = 1 << 30  # binary_slice fails on a missing stop after a non-negative start
    return pc.binary_slice(arr.cast(pa.binary()), start, stop).cast(pa.string())


def as_type(arr: pa.Array, typ: pa.DataType) -> pa.Array:
    """pc.cast, skipped when arr has the type already (every kernel call costs ~10 µs, whatever it does)."""
    return arr if arr.type == typ else pc.cast(arr, typ)


def null_column(n: int, name: str) -> pa.Array:
    return pa.nulls(n, CONN_TYPES[name])


def take_ok(ok: pa.Array) -> pa.Array | None:
    """The indices of the true rows of ok, or None when all are (no take needed)."""
    good = where(ok)
    return None if len(good) == len(ok) else good


def ascii_drop(arr: pa.Array, k: int) -> pa.StringArray:
    """Each (ASCII) string without its first k characters: several times cheaper than utf8_slice_codeunits."""
    return pc.binary_slice(arr.cast(pa.binary()), k, 1 << 30).cast(pa.string())


def pick(cond: pa.Array, a: pa.Array, b: pa.Array) -> pa.Array:
    return pc.if_else(truth(cond), a, b)


def tokens_at(arr: pa.StringArray, places: tuple[int, ...]) -> list[pa.Array]:
    """The space-separated tokens at these places (every row has them: its form was checked)."""
    toks = pc.split_pattern(arr, " ", max_splits=max(places) + 1)  # the rest of the line left whole
    flat, starts = toks.flatten(), list_starts(toks)
    return [flat.take(pc.add(starts, i)) for i in places]


def split_once(arr: pa.Array, sep: str) -> tuple[pa.Array, pa.Array]:
    """(before, after) the first sep of each value (present in each: the form was checked)."""
    parts = pc.split_pattern(arr, sep, max_splits=1)
    before, after = list_items(parts, (0, 1), 2)
    return before, after


def plain_or_rx(
    tail: pa.StringArray,
    plain_regex: str,
    plain: Callable[[pa.StringArray], tuple[dict[str, pa.Array], pa.BooleanArray]],
    rx: Callable[[pa.StringArray], tuple[dict[str, pa.Array], pa.BooleanArray]],
) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """Rows in the plain form (a DFA match) by `plain`, the others by the capture regex, back in order."""
    mask = has(tail, plain_regex)
    k = pc.sum(mask).as_py() or 0
    if k == 0:
        return rx(tail)
    if k == len(tail):
        return plain(tail)
    return merge_rows(mask, plain(tail.filter(mask)), rx(tail.filter(pc.invert(mask))))


def merge_rows(
    mask: pa.BooleanArray,
    first: tuple[dict[str, pa.Array], pa.BooleanArray],
    second: tuple[dict[str, pa.Array], pa.BooleanArray],
) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """Columns and ok of the rows where mask holds (first) and of the others (second), back in row order."""
    (c1, ok1), (c2, ok2) = first, second
    order = pc.array_sort_indices(pa.concat_arrays([where(mask), where(pc.invert(mask))]))
    cols = {}
    for name in set(c1) | set(c2):
        typ = CONN_TYPES[name]
        a = as_type(c1.get(name, null_column(len(ok1), name)), typ)
        b = as_type(c2.get(name, null_column(len(ok2), name)), typ)
        cols[name] = pa.concat_arrays([a, b]).take(order)
    return cols, pa.concat_arrays([ok1, ok2]).take(order)
_ARANGE: list[pa.Array] = [pa.array(range(1 << 16), pa.int64())]


def arange(n: int) -> pa.Array:
    """0..n-1 (int64), sliced from a cached array: building one per call would cost more than its use."""
    while len(_ARANGE[0]) < n:
        _ARANGE[0] = pa.array(range(2 * len(_ARANGE[0])), pa.int64())
    return _ARANGE[0].slice(0, n)


_INTERLEAVE: list[tuple[pa.Array, pa.Array]] = []


def _interleave(m: int) -> tuple[pa.Array, pa.Array]:
    """(i // 2, i % 2) for i in 0..m-1 (int32), sliced from cached arrays."""
    if not _INTERLEAVE or len(_INTERLEAVE[0][0]) < m:
        size = max(m, 1 << 17)
        ar = arange(size)
        half, odd = pc.shift_right(ar, 1), pc.bit_wise_and(ar, 1)
        _INTERLEAVE[:] = [(pc.cast(half, pa.int32()), pc.cast(odd, pa.int32()))]
    half, odd = _INTERLEAVE[0]
    return half.slice(0, m), odd.slice(0, m)


def cut_at(arr: pa.StringArray, pos: pa.Array) -> pa.StringArray:
    """Each string cut at pos (int32, 0 <= pos <= length): 2n strings, head i at 2i and tail i at 2i+1.

    No copy of the text: only the offsets are rebuilt (Arrow has no per-row slice kernel).
    """
    n = len(arr)
    offs = pa.Array.from_buffers(pa.int32(), n + 1, [None, arr.buffers()[1]], offset=arr.offset)
    starts = offs.slice(0, n)
    half, odd = _interleave(2 * n)
    idx = pc.add(half, pc.multiply(odd, n))  # 0, n, 1, n + 1, ...
    both = pa.concat_arrays([starts, pc.add(starts, pc.cast(pos, pa.int32()))]).take(idx)
    inter = pa.concat_arrays([both, offs.slice(n, 1)])
    return pa.Array.from_buffers(pa.string(), 2 * n, [None, inter.buffers()[1], arr.buffers()[2]])


def spread(mask: pa.BooleanArray, values: pa.BooleanArray) -> pa.BooleanArray:
    """values (one per true row of mask) put back in place; false where mask is false."""
    return pc.replace_with_mask(mask, mask, truth(values))


def has_where(arr: pa.StringArray, mask: pa.BooleanArray, regex: str, dense: float = 0.3) -> pa.BooleanArray:
    """has(arr, regex) evaluated only where mask holds (false elsewhere): guards cost a pass each.

    Copying rows out costs about 1.5 ns a byte, RE2's DFA 0.6 ns a byte on a literal it can skip to and
    2-3 ns on an alternation: the whole column is searched when more than `dense` of its rows are wanted.
    """
    wanted = pc.sum(mask).as_py() or 0
    if wanted == 0:
        return mask
    if wanted > dense * len(arr):
        return pc.and_(mask, has(arr, regex))
    return spread(mask, has(arr.filter(mask), regex))


def soft_ip_column(arr: pa.Array) -> pa.Array:
    """soft_ip on a column: canonical IPv4 kept as is, everything else per distinct value."""
    canon = has(arr, r"^" + CANONICAL_IPV4.pattern.replace(r"\d", "[0-9]").replace(r"\Z", "$"))
    if arr.null_count == 0 and pc.all(canon).as_py():
        return arr
    others = pc.if_else(canon, pa.scalar(None, pa.string()), arr)
    return pc.if_else(canon, arr, per_unique(others, soft_ip, pa.string())[0])


def bounded_match(
    arr: pa.StringArray, regex: str, bounds: dict[str, int]
) -> tuple[Callable[[str], pa.Array], pa.BooleanArray]:
    """extract_regex with a regex whose bounded repeats are written unbounded (RE2 runs those slowly): its
    groups (name -> column), and the rows that matched with each bounded group within its bound. A match
    whose parts are longer than the bounds is left to the per-row code, so every row decided with it
    matched as the row-wise regex matches it."""
    m = pc.extract_regex(arr, regex)

    def group(name: str) -> pa.Array:
        return grp(m, name)

    lengths = (pc.less_equal(pc.utf8_length(group(k)), most) for k, most in bounds.items())
    return group, all_true(pc.is_valid(m), *lengths)

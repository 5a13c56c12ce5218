# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled inner loop of :meth:`botkit.market.book.L2Book.apply_wire_updates` (optional).

Why: the level-update loop is the feed's hottest code (~0.4 us per level in Python,
half of the CPU time per level2 frame), and about a third of that is the
quantity check and bytecode dispatch that C does in a few nanoseconds. This kernel
does exactly what the Python loop does for the levels it understands and *returns
the index of the first level it does not*, which the Python code then applies; the
Python loop stays the reference and the fallback when this module is not built
(no C compiler, ``BOTKIT_NO_EXTENSIONS=1``). tests/market/test_book_kernel.py checks
that both give the same books and the same errors.

What it handles (everything else goes back to Python):

* ``str`` fields (exactly), side ``"bid"`` or ``"offer"``;
* quantity exactly ``"0"`` (remove), or at most ``book._qty_fast`` ASCII digits with
  at most one ``"."`` and at least one non-zero digit (positive; stored as the wire
  string). Longer quantities (which may break the book's ``WireLimits``), other zero
  spellings, exponents, signs, junk: Python (``book_levels.positive_quantity``, which
  refuses what is not a plain decimal within the limits);
* a price already in the side's cache; on a miss it calls ``book._to_tick`` (which
  also caches, and may rescale the book: then the side tables are read again).

Pure: no I/O, no clock, no randomness (core ring).
"""

from cpython.dict cimport PyDict_Contains, PyDict_GetItemWithError, PyDict_SetItem
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject
from cpython.unicode cimport (
    PyUnicode_1BYTE_KIND,
    PyUnicode_CheckExact,
    PyUnicode_DATA,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
)

from heapq import heappop, heappush


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset

    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member

    ctypedef struct PyTypeObject:
        pass

    PyTypeObject* Py_TYPE(object o)

cdef enum:
    T_OBJECT_EX = 16

KERNEL_VERSION = 5
"""Bumped with any change of behaviour: book.py ignores a stale build of another version."""

SOURCE_SHA256 = PYX_SHA256
"""sha256 of the .pyx this was compiled from (setup.py passes it in): a test compares it
with the source on disk, so a build that missed an edit cannot pass unnoticed."""

# The level type read through its slot offsets (see bind_level_type); others by getattr.
cdef PyTypeObject* _bound = NULL
cdef object _bound_ref = None  # keeps the bound type alive
cdef Py_ssize_t _off_side = 0
cdef Py_ssize_t _off_price = 0
cdef Py_ssize_t _off_qty = 0


class _Probe:
    __slots__ = ("x",)


_MEMBER_DESCRIPTOR = type(_Probe.x)  # types.MemberDescriptorType, without importing types


def bind_level_type(object cls):
    """Read levels of exactly ``cls`` straight from their slots; returns whether it could.

    ``cls.side``, ``cls.price_level`` and ``cls.new_quantity`` must be ``cls``'s own
    member (slot) descriptors of object fields, as a ``msgspec.Struct``'s or a
    ``__slots__`` class's are. Reading a slot this way is what the descriptor does,
    minus the generic attribute lookup (~30 ns per field, three fields per level).
    Levels of any other type, and unset slots, still go through ``getattr``. Anything
    else is refused (False): a descriptor of another class, or an offset outside the
    instance, would make the reads unsafe.
    """
    global _bound, _bound_ref, _off_side, _off_price, _off_qty
    cdef Py_ssize_t offsets[3]
    cdef PyMemberDef* member
    if not isinstance(cls, type):
        return False
    basic = cls.__basicsize__
    for i, name in enumerate(("side", "price_level", "new_quantity")):
        descr = cls.__dict__.get(name)
        if type(descr) is not _MEMBER_DESCRIPTOR or descr.__objclass__ is not cls:
            return False
        member = (<PyMemberDescrObject*><PyObject*>descr).d_member
        if member == NULL or member.type != T_OBJECT_EX:
            return False
        if member.offset < <Py_ssize_t>sizeof(PyObject) or (
            member.offset + <Py_ssize_t>sizeof(PyObject*) > basic
        ):
            return False
        offsets[i] = member.offset
    _bound = NULL  # never a half-updated binding
    _off_side, _off_price, _off_qty = offsets[0], offsets[1], offsets[2]
    _bound_ref = cls
    _bound = <PyTypeObject*><PyObject*>cls
    return True


cdef inline object _slot(object obj, Py_ssize_t offset, str name):
    cdef PyObject* value = (<PyObject**>((<char*><PyObject*>obj) + offset))[0]
    if value is NULL:
        return getattr(obj, name)  # unset: the descriptor's AttributeError
    return <object>value


cdef int REMOVE = 0
cdef int POSITIVE = 1
cdef int OTHER = 2


cdef inline int _qty_kind(object q, Py_ssize_t fast):
    """REMOVE for exactly "0", POSITIVE for short plain positive decimals, OTHER otherwise."""
    cdef Py_ssize_t n
    cdef Py_ssize_t i
    cdef const unsigned char* s
    cdef bint dot = False
    cdef bint nonzero = False
    cdef unsigned char c
    if not PyUnicode_CheckExact(q):
        return OTHER
    n = PyUnicode_GET_LENGTH(q)
    if n == 0 or n > fast or PyUnicode_KIND(q) != PyUnicode_1BYTE_KIND:
        return OTHER
    s = <const unsigned char*>PyUnicode_DATA(q)
    if n == 1 and s[0] == 48:  # "0"
        return REMOVE
    for i in range(n):
        c = s[i]
        if c == 46:  # "."
            if dot:
                return OTHER
            dot = True
        elif 49 <= c <= 57:  # "1".."9"
            nonzero = True
        elif c != 48:
            return OTHER
    return POSITIVE if nonzero else OTHER


DONE = -1
"""Returned when every level is applied and the book is not crossed."""
DONE_CROSSED = -2
"""Returned when every level is applied and the book is crossed."""


def apply_levels(object book, list ups, Py_ssize_t start=0):
    """Apply ``ups[start:]`` to ``book`` until a level it leaves to Python.

    Returns:
        The index of that level (>= 0): the caller applies it and calls again from
        the next one. Or, once all are applied, :data:`DONE` / :data:`DONE_CROSSED`,
        after doing what ``L2Book.apply_wire_updates`` does at the end of a batch:
        ``updates += len(ups)``, stale heap tops dropped, a compaction through
        ``book._settle()`` when due (the same rule), the crossed test.

    Raises:
        AttributeError: an item that is not a level; ValueError: a price that
            ``_to_tick`` rejects (the caller maps both, as for the Python loop).
    """
    cdef Py_ssize_t i = start
    cdef object side
    cdef object qty
    cdef object price
    cdef int kind
    cdef PyObject* hit
    cdef bint is_bid
    cdef bint bound
    cdef PyTypeObject* bound_type = _bound  # one binding for the whole call
    cdef Py_ssize_t off_side = _off_side
    cdef Py_ssize_t off_price = _off_price
    cdef Py_ssize_t off_qty = _off_qty
    cdef dict bcache = book._bid_cache
    cdef dict acache = book._ask_cache
    cdef dict bids = book._bids
    cdef dict asks = book._asks
    cdef list bheap = book._bid_heap
    cdef list aheap = book._ask_heap
    cdef dict cache
    cdef dict table
    cdef list heap
    cdef object key
    cdef Py_ssize_t fast = book._qty_fast  # WireLimits.quantity_fast_len (book.py)
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if bcache is None or acache is None or bids is None or asks is None:
        raise TypeError("the book's tables are not set")
    if bheap is None or aheap is None:
        raise TypeError("the book's heaps are not set")
    # The size is read on every pass: Python code runs inside the loop (getattr on
    # unbound level types, str subclasses' __eq__, book._to_tick), and the list may
    # change meanwhile; the Python loop's ``for`` re-checks it too.
    while i < PyList_GET_SIZE(ups):
        lv = <object>PyList_GET_ITEM(ups, i)
        bound = Py_TYPE(lv) == bound_type
        side = _slot(lv, off_side, "side") if bound else lv.side
        if side == "bid":
            is_bid = True
            cache, table, heap = bcache, bids, bheap
        elif side == "offer":
            is_bid = False
            cache, table, heap = acache, asks, aheap
        else:
            return i
        qty = _slot(lv, off_qty, "new_quantity") if bound else lv.new_quantity
        kind = _qty_kind(qty, fast)
        if kind == OTHER:
            return i
        price = _slot(lv, off_price, "price_level") if bound else lv.price_level
        if not PyUnicode_CheckExact(price):
            return i
        hit = PyDict_GetItemWithError(cache, price)  # raises what the lookup raises
        if hit is not NULL:
            key = <object>hit
        else:  # removals are not cached: their price just left (as in book.py)
            if is_bid:
                key = -book._to_tick(price, cache if kind == POSITIVE else None, -1)
            else:
                key = book._to_tick(price, cache if kind == POSITIVE else None, 1)
            if book._bids is not bids or book._asks is not asks:  # rescaled: new tables
                bcache, acache = book._bid_cache, book._ask_cache
                bids, asks = book._bids, book._asks
                bheap, aheap = book._bid_heap, book._ask_heap
                if bids is None or asks is None or bheap is None or aheap is None:
                    raise TypeError("the book's tables are not set")
                table = bids if is_bid else asks
                heap = bheap if is_bid else aheap
        if kind == REMOVE:
            table.pop(key, None)
        else:
            if not PyDict_Contains(table, key):
                heappush(heap, key)
            PyDict_SetItem(table, key, qty)
        i += 1
    return _finish(book, PyList_GET_SIZE(ups))


cdef int _finish(object book, Py_ssize_t n) except -3:
    """The end of a batch, as in ``L2Book.apply_wire_updates`` (the same rules)."""
    cdef dict bids = book._bids
    cdef dict asks = book._asks
    cdef list bheap = book._bid_heap
    cdef list aheap = book._ask_heap
    cdef Py_ssize_t done
    cdef Py_ssize_t total
    if bids is None or asks is None or bheap is None or aheap is None:
        raise TypeError("the book's tables are not set")
    done = book.updates
    total = done + n
    book.updates = total
    while bheap and not PyDict_Contains(bids, bheap[0]):
        heappop(bheap)
    while aheap and not PyDict_Contains(asks, aheap[0]):
        heappop(aheap)
    if (done ^ total) >> 8 and (
        len(bheap) > 4 * len(bids) + 256 or len(aheap) > 4 * len(asks) + 256
    ):
        book._settle()
        bheap, aheap = book._bid_heap, book._ask_heap
    if bheap and aheap and -bheap[0] >= aheap[0]:
        return -2  # DONE_CROSSED
    return -1  # DONE

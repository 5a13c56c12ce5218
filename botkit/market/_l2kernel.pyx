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

The second half of this module (``parse_l2_frame``, ``apply_raw_event``) goes one step
further for the Advanced Trade feed: it reads a plain ``l2_data`` frame's bytes
straight into a C array and applies it to the book without a Python object per level
(see the comment above ``RawLevel``); tests/market/test_l2_decoder.py checks it
against msgspec and the two loops. Heap pushes are done here too (``_heap_push``, the
same sift as ``heapq.heappush``, so the same heaps).

Pure: no I/O, no clock, no randomness (core ring).
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.dict cimport (
    PyDict_Contains,
    PyDict_GetItemWithError,
    PyDict_SetDefault,
    PyDict_SetItem,
)
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact, PyLong_FromLongLong
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.object cimport Py_LT, PyObject, PyObject_RichCompareBool
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.unicode cimport (
    PyUnicode_1BYTE_KIND,
    PyUnicode_CheckExact,
    PyUnicode_DATA,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
    PyUnicode_New,
)
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint64_t
from libc.string cimport memcmp, memcpy



cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset

    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member

    ctypedef struct PyTypeObject:
        Py_ssize_t tp_basicsize
        Py_ssize_t tp_itemsize
        void* tp_alloc

    PyTypeObject* Py_TYPE(object o)
    object PyType_GenericAlloc(PyTypeObject* t, Py_ssize_t n)

    ctypedef struct PyListObject:
        PyObject** ob_item

cdef enum:
    T_OBJECT_EX = 16

KERNEL_VERSION = 7
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


# The book's own slots, read the same way (see bind_book_type).
cdef enum:
    B_BIDS, B_ASKS, B_BID_HEAP, B_ASK_HEAP, B_BID_CACHE, B_ASK_CACHE, B_PRICE_BOUNDS,
    B_QTY_FAST, B_DECIMALS, B_UPDATES, B_COUNT

_BOOK_SLOTS = (
    "_bids", "_asks", "_bid_heap", "_ask_heap", "_bid_cache", "_ask_cache",
    "_price_bounds", "_qty_fast", "_decimals", "updates",
)
cdef PyTypeObject* _book_type = NULL
cdef object _book_ref = None
cdef Py_ssize_t _book_off[B_COUNT]


def bind_book_type(object cls):
    """Read the slots of books of exactly ``cls`` by offset; returns whether it could.

    As :func:`bind_level_type`, for the ~15 book attributes a batch reads (and
    ``updates``, which it writes): each is ``cls``'s own member descriptor of an
    object slot. Books of any other type (a subclass) go through ``getattr``.
    """
    global _book_type, _book_ref
    cdef Py_ssize_t offsets[B_COUNT]
    cdef PyMemberDef* member
    if not isinstance(cls, type) or len(_BOOK_SLOTS) != B_COUNT:
        return False
    basic = cls.__basicsize__
    for i, name in enumerate(_BOOK_SLOTS):
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
    _book_type = NULL  # never a half-updated binding
    for i in range(B_COUNT):
        _book_off[i] = offsets[i]
    _book_ref = cls
    _book_type = <PyTypeObject*><PyObject*>cls
    return True


cdef inline object _bget(object book, int k):
    """``getattr(book, _BOOK_SLOTS[k])``, by offset for the bound book type."""
    if Py_TYPE(book) == _book_type:
        return _slot(book, _book_off[k], _BOOK_SLOTS[k])
    return getattr(book, _BOOK_SLOTS[k])


cdef inline int _bset(object book, int k, object value) except -1:
    """``setattr(book, _BOOK_SLOTS[k], value)``, by offset for the bound book type."""
    cdef PyObject** where
    cdef PyObject* old
    if Py_TYPE(book) != _book_type:
        setattr(book, _BOOK_SLOTS[k], value)
        return 0
    where = <PyObject**>((<char*><PyObject*>book) + _book_off[k])
    old = where[0]
    Py_INCREF(value)
    where[0] = <PyObject*>value
    Py_XDECREF(old)
    return 0


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
    cdef dict bcache = _bget(book, B_BID_CACHE)
    cdef dict acache = _bget(book, B_ASK_CACHE)
    cdef dict bids = _bget(book, B_BIDS)
    cdef dict asks = _bget(book, B_ASKS)
    cdef list bheap = _bget(book, B_BID_HEAP)
    cdef list aheap = _bget(book, B_ASK_HEAP)
    cdef dict cache
    cdef dict table
    cdef list heap
    cdef object key
    cdef Py_ssize_t fast = _bget(book, B_QTY_FAST)  # WireLimits.quantity_fast_len (book.py)
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
                _heap_push(heap, key)
            PyDict_SetItem(table, key, qty)
        i += 1
    return _finish(book, PyList_GET_SIZE(ups))


cdef int _finish(object book, Py_ssize_t n) except -3:
    """The end of a batch, as in ``L2Book.apply_wire_updates`` (the same rules)."""
    cdef dict bids = _bget(book, B_BIDS)
    cdef dict asks = _bget(book, B_ASKS)
    cdef list bheap = _bget(book, B_BID_HEAP)
    cdef list aheap = _bget(book, B_ASK_HEAP)
    cdef Py_ssize_t done
    cdef Py_ssize_t total
    if bids is None or asks is None or bheap is None or aheap is None:
        raise TypeError("the book's tables are not set")
    done = _bget(book, B_UPDATES)
    total = done + n
    _bset(book, B_UPDATES, total)
    while bheap and not PyDict_Contains(bids, bheap[0]):
        _heap_pop(bheap)
    while aheap and not PyDict_Contains(asks, aheap[0]):
        _heap_pop(aheap)
    if (done ^ total) >> 8 and (
        len(bheap) > 4 * len(bids) + 256 or len(aheap) > 4 * len(asks) + 256
    ):
        book._settle()
        bheap, aheap = _bget(book, B_BID_HEAP), _bget(book, B_ASK_HEAP)
    if bheap and aheap and -bheap[0] >= aheap[0]:
        return -2  # DONE_CROSSED
    return -1  # DONE



cdef extern from *:
    """
    /* An int of one CPython digit (|value| < 2**30): its value, read in place.
       3.12+: the unstable API for exactly this; 3.11: the digit itself. */
    static inline int botkit_compact_int(PyObject* o, long long* out) {
    #if PY_VERSION_HEX >= 0x030C0000
        if (!PyUnstable_Long_IsCompact((PyLongObject*)o)) return 0;
        *out = (long long)PyUnstable_Long_CompactValue((PyLongObject*)o);
        return 1;
    #else
        Py_ssize_t size = Py_SIZE(o);
        if (size == 0) { *out = 0; return 1; }
        if (size == 1) { *out = (long long)((PyLongObject*)o)->ob_digit[0]; return 1; }
        if (size == -1) { *out = -(long long)((PyLongObject*)o)->ob_digit[0]; return 1; }
        return 0;
    #endif
    }
    """
    bint botkit_compact_int(PyObject* o, long long* out) noexcept nogil


cdef inline bint _lt(object a, object b) except -1:
    """``a < b`` for the heaps' keys: two C integers when both fit, else Python's ``<``."""
    cdef int oa = 0
    cdef int ob = 0
    cdef long long va
    cdef long long vb
    if PyLong_CheckExact(a) and PyLong_CheckExact(b):
        if botkit_compact_int(<PyObject*>a, &va) and botkit_compact_int(<PyObject*>b, &vb):
            return va < vb  # most ticks: one digit each
        va = PyLong_AsLongLongAndOverflow(a, &oa)
        vb = PyLong_AsLongLongAndOverflow(b, &ob)
        if oa == 0 and ob == 0:
            return va < vb
    return PyObject_RichCompareBool(a, b, Py_LT)


cdef int _siftdown(list heap, Py_ssize_t startpos, Py_ssize_t pos) except -1:
    """``heapq``'s ``siftdown`` (the same swaps, so the same heap), comparing with ``_lt``."""
    cdef Py_ssize_t size = PyList_GET_SIZE(heap)
    cdef Py_ssize_t parent
    cdef PyObject** arr
    cdef PyObject* tmp
    cdef bint lt
    while pos > startpos:
        parent = (pos - 1) >> 1
        arr = (<PyListObject*>heap).ob_item
        lt = _lt(<object>arr[pos], <object>arr[parent])
        if size != PyList_GET_SIZE(heap):  # changed by a comparison (never with int keys)
            raise RuntimeError("list changed size during iteration")
        if not lt:
            break
        arr = (<PyListObject*>heap).ob_item
        tmp = arr[pos]
        arr[pos] = arr[parent]
        arr[parent] = tmp
        pos = parent
    return 0


cdef int _heap_push(list heap, object item) except -1:
    """``heapq.heappush`` without a Python call."""
    heap.append(item)
    return _siftdown(heap, 0, PyList_GET_SIZE(heap) - 1)


cdef int _heap_pop(list heap) except -1:
    """``heapq.heappop`` (result dropped) without a Python call: ``heapq``'s ``siftup``."""
    cdef Py_ssize_t endpos
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t child
    cdef Py_ssize_t limit
    cdef PyObject** arr
    cdef PyObject* tmp
    cdef bint lt
    last = heap.pop()
    endpos = PyList_GET_SIZE(heap)
    if endpos == 0:
        return 0
    heap[0] = last
    limit = endpos >> 1  # the first position without a child
    while pos < limit:
        child = 2 * pos + 1
        arr = (<PyListObject*>heap).ob_item
        if child + 1 < endpos:
            lt = _lt(<object>arr[child], <object>arr[child + 1])
            if endpos != PyList_GET_SIZE(heap):
                raise RuntimeError("list changed size during iteration")
            if not lt:
                child += 1
            arr = (<PyListObject*>heap).ob_item
        tmp = arr[child]
        arr[child] = arr[pos]
        arr[pos] = tmp
        pos = child
    return _siftdown(heap, 0, pos)


# -- the level2 frame decoder: l2_data bytes straight into the book ----------------------
#
# Why: decoding a frame with msgspec builds a struct and three or four strings per level
# (and a list per event) that the loop above reads once and drops; that was two thirds
# of the CPU time per level2 frame. parse_l2_frame reads the JSON of a *plain* l2_data
# frame into a C array of (side, price span, quantity span) without creating a Python
# object per level; apply_raw_event applies those levels to the book in C, with the same
# rules as apply_levels. Anything it does not recognise exactly makes parse_l2_frame
# return None *before anything is applied*, and the caller decodes the frame with msgspec
# as before: a frame is either handled here, with the same result, or not at all.
# tests/market/test_l2_decoder.py compares both paths on generated frames.
#
# Recognised ("plain") frames: one JSON object, JSON whitespace anywhere between tokens,
# keys channel (exactly "l2_data"), client_id, timestamp (strings), sequence_num (an
# integer 0..10**18-1 without leading zeros), events (a list); an event has type
# ("snapshot" or "update"), product_id and updates (a list); a level has side ("bid" or
# "offer"), price_level, new_quantity and event_time (strings). Each key once, no other
# key, required keys present, strings of printable ASCII without escapes (shorter than
# 64 KiB), quantities exactly "0" or plain positive decimals (what _qty_kind calls
# POSITIVE, judged against the book's own quantity_fast_len), nothing after the object
# but whitespace. All of these msgspec decodes to the same L2Data.

cdef struct RawLevel:
    int32_t price  # offset of the price string in the frame
    int32_t qty  # offset of the quantity string
    uint16_t price_len
    uint16_t qty_len
    uint8_t bid
    uint8_t remove


@cython.no_gc
@cython.freelist(8)
cdef class _RawLevels:
    """The levels of one frame: spans into ``data``, which this keeps alive."""

    cdef RawLevel* items
    cdef Py_ssize_t count
    cdef Py_ssize_t cap
    cdef object data
    cdef const unsigned char* s

    def __dealloc__(self):
        PyMem_Free(self.items)
        self.items = NULL

    cdef RawLevel* push(self) except NULL:
        cdef RawLevel* grown
        cdef Py_ssize_t cap
        if self.count == self.cap:
            cap = self.cap * 2 if self.cap else 32
            grown = <RawLevel*>PyMem_Realloc(self.items, cap * sizeof(RawLevel))
            if grown == NULL:
                raise MemoryError()
            self.items = grown
            self.cap = cap
        self.count += 1
        return &self.items[self.count - 1]


@cython.no_gc
@cython.freelist(8)
cdef class L2RawEvent:
    """One event of a frame read by :func:`parse_l2_frame` (its levels stay in C)."""

    cdef readonly str type
    cdef readonly str product_id
    cdef _RawLevels levels
    cdef Py_ssize_t start
    cdef Py_ssize_t end
    cdef Py_ssize_t qty_len  # the longest positive quantity of the event

    def __len__(self):
        return self.end - self.start

    def levels_as_tuples(self):
        """The levels as ``(side, price_level, new_quantity)`` strings (for tests)."""
        cdef Py_ssize_t i
        cdef RawLevel* lv
        out = []
        for i in range(self.start, self.end):
            lv = &self.levels.items[i]
            out.append((
                "bid" if lv.bid else "offer",
                _ascii(self.levels.s + lv.price, lv.price_len),
                _ascii(self.levels.s + lv.qty, lv.qty_len),
            ))
        return out


@cython.no_gc
@cython.freelist(8)
cdef class L2RawFrame:
    """A plain ``l2_data`` frame read by :func:`parse_l2_frame`."""

    cdef readonly object sequence_num
    cdef readonly list events


cdef str _UPDATE = "update"
cdef str _SNAPSHOT = "snapshot"
cdef str _last_pid = ""  # product ids repeat: one str object per product, not per frame


cdef inline str _ascii(const unsigned char* p, Py_ssize_t n):
    """A new str of the ASCII bytes ``p[:n]`` (checked ASCII by the parser)."""
    cdef object out = PyUnicode_New(n, 127)
    memcpy(PyUnicode_DATA(out), p, n)
    return <str>out


cdef inline Py_ssize_t _ws(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    while i < n and (s[i] == 32 or s[i] == 10 or s[i] == 13 or s[i] == 9):
        i += 1
    return i


cdef uint64_t _ONES = 0x0101010101010101ULL
cdef uint64_t _HIGHS = 0x8080808080808080ULL


cdef inline Py_ssize_t _string(
    const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Py_ssize_t* length
) noexcept nogil:
    """A string at ``s[i]``: where its text starts (``length`` set), or -1 if not plain.

    Plain: printable ASCII without a backslash, shorter than 64 KiB. Scanned 8 bytes at
    a time until a word holds a quote or a refused byte (exact bit tests for a byte
    < 0x20, >= 0x7f, == 0x5c or == 0x22), then byte by byte.
    """
    cdef Py_ssize_t j
    cdef uint64_t x
    cdef uint64_t q
    cdef uint64_t b
    cdef unsigned char c
    if i >= n or s[i] != 34:  # '"'
        return -1
    j = i + 1
    while j + 8 <= n:
        memcpy(&x, s + j, 8)
        q = x ^ 0x2222222222222222ULL
        b = x ^ 0x5C5C5C5C5C5C5C5CULL
        if (
            ((x - 0x2020202020202020ULL) & ~x)
            | (x + _ONES) | x
            | ((q - _ONES) & ~q)
            | ((b - _ONES) & ~b)
        ) & _HIGHS:
            break
        j += 8
    while j < n:
        c = s[j]
        if c == 34:
            length[0] = j - i - 1
            if length[0] > 0xFFFF:
                return -1
            return i + 1
        if c < 32 or c >= 127 or c == 92:
            return -1
        j += 1
    return -1


cdef inline bint _is(const unsigned char* p, Py_ssize_t n, const char* word, Py_ssize_t k) noexcept nogil:
    return n == k and memcmp(p, word, k) == 0


cdef inline Py_ssize_t _after(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, bint* more, unsigned char close) noexcept nogil:
    """After a member or an item: ``,`` (``more``, then the next token) or ``close``; -1 else."""
    i = _ws(s, i, n)
    if i >= n:
        return -1
    if s[i] == 44:  # ','
        more[0] = True
        return _ws(s, i + 1, n)
    more[0] = False
    if s[i] == close:
        return i + 1
    return -1


cdef inline Py_ssize_t _key(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Py_ssize_t* k, Py_ssize_t* klen) noexcept nogil:
    """A key and its colon: returns where its value starts (``k``, ``klen`` set), or -1."""
    cdef Py_ssize_t start = _string(s, i, n, klen)
    if start < 0:
        return -1
    k[0] = start
    i = _ws(s, start + klen[0] + 1, n)
    if i >= n or s[i] != 58:  # ':'
        return -1
    return _ws(s, i + 1, n)


cdef inline int _qty_raw(const unsigned char* q, Py_ssize_t n) noexcept nogil:
    """_qty_kind on bytes, without the length bound (checked per book by the caller)."""
    cdef Py_ssize_t i
    cdef bint dot = False
    cdef bint nonzero = False
    cdef unsigned char c
    if n == 0:
        return OTHER
    if n == 1 and q[0] == 48:
        return REMOVE
    for i in range(n):
        c = q[i]
        if c == 46:
            if dot:
                return OTHER
            dot = True
        elif 49 <= c <= 57:
            nonzero = True
        elif c != 48:
            return OTHER
    return POSITIVE if nonzero else OTHER


cdef inline bint _lit(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, const char* word, Py_ssize_t k) noexcept nogil:
    return i + k <= n and memcmp(s + i, word, k) == 0


cdef Py_ssize_t _level_compact(
    const unsigned char* s, Py_ssize_t i, Py_ssize_t n, _RawLevels out, Py_ssize_t* qmax
) except -2:
    """:func:`_level` for the layout Coinbase sends, or -1 to let ``_level`` read it.

    ``{"side":"bid"|"offer","event_time":"…","price_level":"…","new_quantity":"…"}``
    with no whitespace: the keys are compared as literals instead of being scanned.
    On -1 nothing is left appended.
    """
    cdef Py_ssize_t v, vlen
    cdef int kind
    cdef RawLevel* lv
    cdef int bid
    if _lit(s, i, n, b'{"side":"bid"', 13):
        bid = 1
        i += 13
    elif _lit(s, i, n, b'{"side":"offer"', 15):
        bid = 0
        i += 15
    else:
        return -1
    if not _lit(s, i, n, b',"event_time":', 14):
        return -1
    v = _string(s, i + 14, n, &vlen)
    if v < 0:
        return -1
    i = v + vlen + 1
    if not _lit(s, i, n, b',"price_level":', 15):
        return -1
    v = _string(s, i + 15, n, &vlen)
    if v < 0:
        return -1
    lv = out.push()
    lv.bid = bid
    lv.price = <int32_t>v
    lv.price_len = <uint16_t>vlen
    i = v + vlen + 1
    if _lit(s, i, n, b',"new_quantity":', 16):
        v = _string(s, i + 16, n, &vlen)
        if v >= 0 and v + vlen + 1 < n and s[v + vlen + 1] == 125:  # '}'
            kind = _qty_raw(s + v, vlen)
            if kind != OTHER:
                lv.remove = kind == REMOVE
                lv.qty = <int32_t>v
                lv.qty_len = <uint16_t>vlen
                if kind == POSITIVE and vlen > qmax[0]:
                    qmax[0] = vlen
                return v + vlen + 2
    out.count -= 1  # not this layout after all: _level reads it from the start
    return -1


cdef Py_ssize_t _level(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, _RawLevels out, Py_ssize_t* qmax) except -2:
    """One level object at ``s[i]`` appended to ``out``; the index after it, or -1."""
    cdef Py_ssize_t k, klen, v, vlen
    cdef int seen = 0
    cdef int bit
    cdef bint more = True
    cdef int kind
    cdef RawLevel* lv
    if i >= n or s[i] != 123:  # '{'
        return -1
    lv = out.push()
    i = _ws(s, i + 1, n)
    while more:
        i = _key(s, i, n, &k, &klen)
        if i < 0:
            return -1
        v = _string(s, i, n, &vlen)
        if v < 0:
            return -1
        if _is(s + k, klen, b"side", 4):
            bit = 1
            if _is(s + v, vlen, b"bid", 3):
                lv.bid = 1
            elif _is(s + v, vlen, b"offer", 5):
                lv.bid = 0
            else:
                return -1
        elif _is(s + k, klen, b"price_level", 11):
            bit = 2
            lv.price = <int32_t>v
            lv.price_len = <uint16_t>vlen
        elif _is(s + k, klen, b"new_quantity", 12):
            bit = 4
            kind = _qty_raw(s + v, vlen)
            if kind == OTHER:
                return -1
            lv.remove = kind == REMOVE
            lv.qty = <int32_t>v
            lv.qty_len = <uint16_t>vlen
            if kind == POSITIVE and vlen > qmax[0]:
                qmax[0] = vlen
        elif _is(s + k, klen, b"event_time", 10):
            bit = 8
        else:
            return -1
        if seen & bit:
            return -1  # a duplicate key
        seen |= bit
        i = _after(s, v + vlen + 1, n, &more, 125)  # '}'
        if i < 0:
            return -1
    if seen & 7 != 7:
        return -1
    return i


cdef Py_ssize_t _event(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, _RawLevels levels, list events) except -2:
    """One event object at ``s[i]`` appended to ``events``; the index after it, or -1."""
    global _last_pid
    cdef Py_ssize_t k, klen, v, vlen
    cdef int seen = 0
    cdef int bit
    cdef bint more = True
    cdef bint more_levels
    cdef L2RawEvent ev
    cdef Py_ssize_t qmax = 0
    cdef Py_ssize_t j
    if i >= n or s[i] != 123:
        return -1
    ev = L2RawEvent.__new__(L2RawEvent)
    ev.levels = levels
    i = _ws(s, i + 1, n)
    while more:
        i = _key(s, i, n, &k, &klen)
        if i < 0:
            return -1
        if _is(s + k, klen, b"updates", 7):
            bit = 4
            if i >= n or s[i] != 91:  # '['
                return -1
            ev.start = levels.count
            i = _ws(s, i + 1, n)
            if i < n and s[i] == 93:  # ']'
                i += 1
            else:
                more_levels = True
                while more_levels:
                    j = _level_compact(s, i, n, levels, &qmax)
                    i = j if j >= 0 else _level(s, i, n, levels, &qmax)
                    if i < 0:
                        return -1
                    i = _after(s, i, n, &more_levels, 93)
                    if i < 0:
                        return -1
            ev.end = levels.count
        else:
            v = _string(s, i, n, &vlen)
            if v < 0:
                return -1
            if _is(s + k, klen, b"type", 4):
                bit = 1
                if _is(s + v, vlen, b"update", 6):
                    ev.type = _UPDATE
                elif _is(s + v, vlen, b"snapshot", 8):
                    ev.type = _SNAPSHOT
                else:
                    return -1
            elif _is(s + k, klen, b"product_id", 10):
                bit = 2
                if PyUnicode_GET_LENGTH(_last_pid) == vlen and memcmp(
                    PyUnicode_DATA(_last_pid), s + v, vlen
                ) == 0:
                    ev.product_id = _last_pid
                else:
                    ev.product_id = _ascii(s + v, vlen)
                    _last_pid = ev.product_id
            else:
                return -1
            i = v + vlen + 1
        if seen & bit:
            return -1
        seen |= bit
        i = _after(s, i, n, &more, 125)
        if i < 0:
            return -1
    if seen != 7:
        return -1
    ev.qty_len = qmax
    events.append(ev)
    return i


def parse_l2_frame(object data, dict books):
    """A plain ``l2_data`` frame read without per-level objects, or None.

    Args:
        data: the frame, ``bytes`` or a one-byte-kind ``str``.
        books: the connection's books by product id. The frame goes to msgspec when
            an event's book is not exactly an ``L2Book`` (the type bound by
            :func:`bind_book_type`: a subclass may override how it applies levels)
            or has quantities longer than its book's quantity_fast_len (the exact
            check is in Python).

    Returns:
        An :class:`L2RawFrame`, or None for anything else (another channel, a schema
        break, an unusual spelling of anything): the caller decodes it with msgspec.
        Nothing is applied here.
    """
    cdef const unsigned char* s
    cdef Py_ssize_t n, i, k, klen, v, vlen, j
    cdef int seen = 0
    cdef int bit
    cdef bint more = True
    cdef bint more_events
    cdef long long seq = 0
    cdef _RawLevels levels
    cdef list events
    cdef L2RawFrame frame
    cdef L2RawEvent ev
    if PyBytes_CheckExact(data):
        s = <const unsigned char*>PyBytes_AS_STRING(data)
        n = PyBytes_GET_SIZE(data)
    elif PyUnicode_CheckExact(data) and PyUnicode_KIND(data) == PyUnicode_1BYTE_KIND:
        s = <const unsigned char*>PyUnicode_DATA(data)  # latin-1: bytes >= 127 are refused
        n = PyUnicode_GET_LENGTH(data)
    else:
        return None
    if n >= 0x7FFFFFFF:  # offsets are 32-bit
        return None
    i = _ws(s, 0, n)
    if i >= n or s[i] != 123:
        return None
    levels = _RawLevels.__new__(_RawLevels)
    levels.data = data
    levels.s = s
    events = []
    i = _ws(s, i + 1, n)
    while more:
        i = _key(s, i, n, &k, &klen)
        if i < 0:
            return None
        if _is(s + k, klen, b"sequence_num", 12):
            bit = 2
            j = i
            while j < n and 48 <= s[j] <= 57 and j - i < 19:
                seq = seq * 10 + (s[j] - 48)
                j += 1
            if j == i or j - i > 18 or (s[i] == 48 and j - i > 1):
                return None  # not a plain integer below 10**18: msgspec judges it
            if j < n and (s[j] == 46 or s[j] == 101 or s[j] == 69 or 48 <= s[j] <= 57):
                return None  # a fraction or an exponent
            i = j
        elif _is(s + k, klen, b"events", 6):
            bit = 4
            if i >= n or s[i] != 91:
                return None
            i = _ws(s, i + 1, n)
            if i < n and s[i] == 93:
                i += 1
            else:
                more_events = True
                while more_events:
                    i = _event(s, i, n, levels, events)
                    if i < 0:
                        return None
                    i = _after(s, i, n, &more_events, 93)
                    if i < 0:
                        return None
        else:
            v = _string(s, i, n, &vlen)
            if v < 0:
                return None
            if _is(s + k, klen, b"channel", 7):
                bit = 1
                if not _is(s + v, vlen, b"l2_data", 7):
                    return None
            elif _is(s + k, klen, b"client_id", 9):
                bit = 8
            elif _is(s + k, klen, b"timestamp", 9):
                bit = 16
            else:
                return None
            i = v + vlen + 1
        if seen & bit:
            return None
        seen |= bit
        i = _after(s, i, n, &more, 125)
        if i < 0:
            return None
    if seen & 7 != 7 or _ws(s, i, n) != n:
        return None
    for ev in events:
        book = books.get(ev.product_id)
        if book is None:
            continue  # not this connection's: the protocol skips it
        if Py_TYPE(book) != _book_type:
            return None  # a subclass of L2Book may apply levels its own way: msgspec
        if ev.qty_len > <Py_ssize_t>_bget(book, B_QTY_FAST):
            return None  # a quantity the book's fast rule does not cover: the exact path
    frame = L2RawFrame.__new__(L2RawFrame)
    frame.sequence_num = PyLong_FromLongLong(seq)
    frame.events = events
    return frame


cdef inline long long _fast_tick(
    const unsigned char* p, Py_ssize_t n, long long decimals, Py_ssize_t max_frac,
    Py_ssize_t price_digits,
) noexcept nogil:
    """The tick of a price ``_to_tick`` would accept at this scale, or -1 to ask it.

    Only prices whose checks are all plainly passed: ASCII digits and one optional
    point, at most 37 characters, 1 to 18 whole digits and fewer than ``max_price``
    has (so below it), no more significant fraction digits than the scale and
    ``max_frac``, a tick of at most 18 digits, and positive. Anything else (a price
    that sets or changes the scale, or that ``_to_tick`` refuses) goes to ``_to_tick``.
    """
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t whole_len
    cdef Py_ssize_t frac_start
    cdef Py_ssize_t frac_end
    cdef Py_ssize_t f
    cdef long long tick = 0
    if decimals < 0 or n > 37:
        return -1
    while i < n and 48 <= p[i] <= 57:
        if i < 18:
            tick = tick * 10 + (p[i] - 48)
        i += 1
    whole_len = i
    if whole_len == 0 or whole_len > 18 or whole_len >= price_digits:
        return -1
    frac_start = frac_end = n
    if i < n:
        if p[i] != 46:  # '.'
            return -1
        frac_start = i + 1
        i = frac_start
        while i < n and 48 <= p[i] <= 57:
            i += 1
        if i != n:
            return -1
        while frac_end > frac_start and p[frac_end - 1] == 48:
            frac_end -= 1
    f = frac_end - frac_start
    if f > decimals or f > max_frac or whole_len + decimals > 18:
        return -1
    for i in range(frac_start, frac_end):
        tick = tick * 10 + (p[i] - 48)
    for i in range(decimals - f):
        tick *= 10
    if tick == 0:
        return -1  # not positive: _to_tick says so
    return tick


cpdef int apply_raw_event(object book, L2RawEvent ev) except -3:
    """Apply the levels of ``ev`` to ``book`` as :func:`apply_levels` would their structs.

    Every level was classified by :func:`parse_l2_frame` (side ``bid``/``offer``,
    quantity ``"0"`` or plainly positive within the book's quantity_fast_len), so no
    level goes back to Python; a price is converted in C when the book's scale covers
    it (:func:`_fast_tick`), else by ``book._to_tick`` (which caches, refuses and
    rescales, as on a cache miss in :func:`apply_levels`). Ends the batch like it and
    returns :data:`DONE` or :data:`DONE_CROSSED`.

    Raises:
        ValueError: a price ``_to_tick`` refuses (the levels before it are applied).
    """
    cdef _RawLevels levels = ev.levels
    cdef const unsigned char* s = levels.s
    cdef RawLevel* lv
    cdef Py_ssize_t i
    cdef long long tick
    cdef long long decimals
    cdef object d
    cdef object key
    cdef object qty
    cdef PyObject* have
    cdef dict bids = _bget(book, B_BIDS)
    cdef dict asks = _bget(book, B_ASKS)
    cdef list bheap = _bget(book, B_BID_HEAP)
    cdef list aheap = _bget(book, B_ASK_HEAP)
    cdef dict table
    cdef list heap
    cdef tuple bounds = _bget(book, B_PRICE_BOUNDS)
    cdef Py_ssize_t max_frac = bounds[0]
    cdef Py_ssize_t price_digits = bounds[1]
    if bids is None or asks is None:
        raise TypeError("the book's tables are not set")
    if bheap is None or aheap is None:
        raise TypeError("the book's heaps are not set")
    if ev.qty_len > <Py_ssize_t>_bget(book, B_QTY_FAST):  # parsed for another book: never
        raise TypeError("a quantity this book checks exactly: decode the frame with msgspec")
    d = _bget(book, B_DECIMALS)
    decimals = -1 if d is None else <long long>d
    for i in range(ev.start, ev.end):
        lv = &levels.items[i]
        tick = _fast_tick(s + lv.price, lv.price_len, decimals, max_frac, price_digits)
        if tick >= 0:
            key = PyLong_FromLongLong(-tick if lv.bid else tick)
        else:  # as a cache miss in apply_levels (removals are not cached)
            price = _ascii(s + lv.price, lv.price_len)
            if lv.bid:
                cache = None if lv.remove else _bget(book, B_BID_CACHE)
                key = -book._to_tick(price, cache, -1)
            else:
                cache = None if lv.remove else _bget(book, B_ASK_CACHE)
                key = book._to_tick(price, cache, 1)
            d = _bget(book, B_DECIMALS)
            decimals = -1 if d is None else <long long>d
            if _bget(book, B_BIDS) is not bids or _bget(book, B_ASKS) is not asks:  # rescaled
                bids, asks = _bget(book, B_BIDS), _bget(book, B_ASKS)
                bheap, aheap = _bget(book, B_BID_HEAP), _bget(book, B_ASK_HEAP)
                if bids is None or asks is None or bheap is None or aheap is None:
                    raise TypeError("the book's tables are not set")
        if lv.bid:
            table, heap = bids, bheap
        else:
            table, heap = asks, aheap
        if lv.remove:
            table.pop(key, None)
        else:
            qty = _ascii(s + lv.qty, lv.qty_len)
            have = PyDict_SetDefault(table, key, qty)  # one lookup for a new level
            if have == <PyObject*>qty:
                _heap_push(heap, key)
            else:
                PyDict_SetItem(table, key, qty)
    return _finish(book, ev.end - ev.start)


# -- the feed's per-frame event, built in C ----------------------------------------------

_EVENT_SLOTS = ("product_id", "book", "snapshot", "sequence_num")
cdef PyTypeObject* _event_type = NULL
cdef object _event_ref = None
cdef Py_ssize_t _event_off[4]


def bind_event_type(object cls):
    """Let :func:`book_changed` build instances of ``cls``; returns whether it could.

    ``cls`` is ``botkit.market.events.BookChanged``: a frozen dataclass with slots whose
    four fields (``_EVENT_SLOTS``) must be ``cls``'s own member descriptors of object
    slots, inside the instance, with the generic allocator and no variable part (what
    ``object.__new__(cls)`` uses). Anything else is refused (False).
    """
    global _event_type, _event_ref
    cdef Py_ssize_t offsets[4]
    cdef PyMemberDef* member
    cdef PyTypeObject* t
    if not isinstance(cls, type):
        return False
    t = <PyTypeObject*><PyObject*>cls
    if t.tp_itemsize != 0 or t.tp_alloc != <void*>PyType_GenericAlloc:
        return False
    if cls.__new__ is not object.__new__:
        return False
    basic = cls.__basicsize__
    for i, name in enumerate(_EVENT_SLOTS):
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
    _event_type = NULL  # never a half-updated binding
    for i in range(4):
        _event_off[i] = offsets[i]
    _event_ref = cls
    _event_type = t
    return True


cdef inline void _put(object obj, Py_ssize_t offset, object value):
    cdef PyObject** where = <PyObject**>((<char*><PyObject*>obj) + offset)
    Py_INCREF(value)
    where[0] = <PyObject*>value  # a fresh instance: the slot was NULL


def book_changed(object product_id, object book, object snapshot, object sequence_num):
    """``BookChanged(product_id, book, snapshot, sequence_num)`` without its ``__init__``.

    The feed builds one per level2 frame. The dataclass's ``__init__`` sets each field
    through ``object.__setattr__`` (~0.5 us), ``events.book_changed`` through the slot
    descriptors (~0.35 us); this allocates as ``object.__new__`` does and writes the four
    slots directly (~0.05 us). The result is an ordinary, equal ``BookChanged``.
    """
    if _event_type == NULL:
        raise RuntimeError("bind_event_type(BookChanged) was not called")
    ev = PyType_GenericAlloc(_event_type, 0)
    _put(ev, _event_off[0], product_id)
    _put(ev, _event_off[1], book)
    _put(ev, _event_off[2], snapshot)
    _put(ev, _event_off[3], sequence_num)
    return ev


cdef bint _apply_raw_updates(object book, L2RawEvent ev) except -1:
    """``L2Book.apply_raw_updates(book, ev)`` for a book of exactly the bound type, in C.

    The same rules as that method (the reference, kept in book.py): the levels applied
    by :func:`apply_raw_event`; if it raises AttributeError, TypeError or ValueError, the
    book settles its heaps and ValueError("bad level in <product> update: ...") is raised
    instead; True when the book is left crossed. The differential tests compare the two
    routes' events, errors included (tests/market/test_book_changed_kernel.py).
    """
    cdef int done
    try:
        done = apply_raw_event(book, ev)
    except (AttributeError, TypeError, ValueError) as exc:
        book._settle()
        raise ValueError(f"bad level in {book.product_id} update: {exc}") from None
    return done == -2  # DONE_CROSSED


def apply_raw_frame(object proto, L2RawFrame frame):
    """``proto._apply_l2(frame, [], False, True)`` for an in-sequence raw frame, its common case in C.

    ``proto`` is Advanced Trade's ``FeedProtocol``. A frame of one ``update`` event for a
    valid book of the connection (nearly every level2 frame) is applied here with the
    same calls as ``_apply_l2`` (``book.apply_raw_updates``; a refusal or a crossed book
    goes to the protocol's ``_l2_refused`` / ``_l2_crossed``, which ``_apply_l2`` also
    uses) and its ``BookChanged`` built in C; anything else is ``proto._apply_l2``'s.
    This saves ~0.3 us of interpreted glue per frame.
    """
    cdef list evs = frame.events
    cdef L2RawEvent ev
    if len(evs) == 1 and _event_type != NULL:
        ev = evs[0]
        if ev.type == _UPDATE:
            book = (<dict?>proto.books).get(ev.product_id)
            if book is not None and book.valid:
                try:
                    if Py_TYPE(book) == _book_type:
                        crossed = _apply_raw_updates(book, ev)
                    else:  # a subclass may override it (parse_l2_frame declines those anyway)
                        crossed = book.apply_raw_updates(ev)
                except Exception as exc:
                    return proto._l2_refused([], ev.product_id, exc)
                if crossed:
                    return proto._l2_crossed([], ev.product_id)
                return [book_changed(ev.product_id, book, False, frame.sequence_num)]
    return proto._apply_l2(frame, [], False, True)

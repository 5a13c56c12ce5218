"""The order journal's memory does not grow with the orders it has written (issue 20).

SQLite's default page cache (2 MB) fills one page at a time as the journal file grows;
the hour-long soak saw it as a slow RSS slope long after warm-up. The journal bounds its
cache (``CACHE_SIZE``). Measured in a child process, so nothing else in the test session
moves the resident set.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = r"""
import sys, uuid
from pathlib import Path
from botkit.orders.journal import OrderJournal

def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

journal = OrderJournal(Path(sys.argv[1]), synchronous="OFF")
body = b'{"order_configuration":{"limit_limit_gtc":{"base_size":"0.001"}}}' * 4
marks = {}
for i in range(6001):
    cid = str(uuid.uuid4())
    journal.record(cid, "BTC-USD", "BUY", body)
    journal.mark(cid, "PLACED", order_id=cid)
    if i in (1000, 6000):
        marks[i] = rss_kb()
journal.close()
print(marks[6000] - marks[1000])
"""


def test_journal_rss_is_flat_after_the_first_thousand_orders(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "journal.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    grown_kb = int(out.stdout.strip())
    # with SQLite's default cache this is ~1 500 KB; bounded, it is ~0
    assert grown_kb < 400, f"the journal's process grew {grown_kb} KB over 5 000 orders"

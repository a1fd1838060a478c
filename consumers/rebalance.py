"""A rebalance listener that only raises a flag.

kafka-python calls rebalance callbacks on its I/O thread, which must not touch a database
connection. So the consumer's own thread sees the flag, positions every partition where its
store says (not where Kafka's committed offsets say) and forgets what it cached.
"""

from __future__ import annotations

import threading
from typing import Any

from kafka import ConsumerRebalanceListener


class FlagOnRebalance(ConsumerRebalanceListener):
    def __init__(self, changed: threading.Event) -> None:
        self.changed = changed

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.changed.set()

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.changed.set()

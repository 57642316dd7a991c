"""Go-live import: the existing customer base, with its past orders, in one go.

A JSON Lines file (one customer a line, ``schemas/customer.json``) is validated whole
before anything is written (:mod:`.lines`); each customer's stage, tier and points are
then derived by replaying their true order dates through the loyalty rules
(:mod:`.replay`), and written in batches, idempotently on the platform's customer and
order ids (:mod:`memberflow.store.imports`). Imported customers were customers already:
no welcome journey, no join bonus, and no journey for what happened before go-live.
"""

from memberflow.importing.lines import Customer, LineError, PastOrder, validate_file
from memberflow.importing.replay import Derived, derive

__all__ = ["Customer", "Derived", "LineError", "PastOrder", "derive", "validate_file"]

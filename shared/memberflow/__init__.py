"""memberflow: member-lifecycle automation for loyalty and membership programmes.

The domain package, deployed as a Lambda layer. Handlers in ``functions/`` stay thin
and call into this package; nothing here reads the environment at import time.
"""

__version__ = "0.1.0"

"""The demo installation behind ``siyu demo``: fixed data and its loader (``scenario``)."""

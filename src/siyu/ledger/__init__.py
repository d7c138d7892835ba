"""The append-only double-entry ledger (product.md §3). Other domains call ``ledger.service``."""

"""Commissions (佣金): attribution, the B2K2C split, refunds, states, holds and fraud signals.

``rules`` and ``attribution`` are pure (no database, no I/O); the order and ledger services wire
them to order lines and ledger entries.
"""

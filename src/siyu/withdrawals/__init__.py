"""Withdrawals (提现): a promoter's request, the platform's review, and the payout channel."""

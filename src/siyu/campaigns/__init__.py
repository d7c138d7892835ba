"""Fission campaigns (裂变活动): docs/campaigns.md."""

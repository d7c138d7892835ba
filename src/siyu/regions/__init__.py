"""Regions (province / city / district, national division codes) and city tiers."""

"""The assisted channel backend."""

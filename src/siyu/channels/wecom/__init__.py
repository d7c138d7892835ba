"""The wecom channel backend."""

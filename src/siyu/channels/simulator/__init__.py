"""The simulator channel backend."""

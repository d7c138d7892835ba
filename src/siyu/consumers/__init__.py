"""Consumers (C): the people who buy. Found by phone (blind index) or WeChat union id."""

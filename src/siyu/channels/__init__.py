"""The channel layer: one interface (``base.ChannelBackend``), backends chosen by ``registry``."""

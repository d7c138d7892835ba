"""Orders: H5 checkout, signed webhook and CSV import all go through ``service.place_order``."""

"""Tags, segments (saved rules over contacts), releases and couriers. See docs/segments.md."""

"""The traffic pool: operator accounts, channel codes (活码) and routing, contacts, groups."""

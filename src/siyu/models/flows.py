"""Scripts (话术库) and conversation flows (SOP): script versions, flow versions, per-contact
conversation state and the inbound-message inbox. See docs/flows.md."""

from __future__ import annotations

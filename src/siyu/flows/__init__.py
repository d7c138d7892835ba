"""Scripts (话术库) and conversation flows (SOP). See docs/flows.md."""

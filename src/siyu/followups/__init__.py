"""Follow-ups (1:1 跟进): trigger rules and the follow-ups they create. docs/followups.md."""

"""quote_followup.v1: hand-built quotes (sent, answered, accepted, rejected, expired; various ages and validity)
with the action each should get; exactly those nudges, and none twice across repeated runs."""

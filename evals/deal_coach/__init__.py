"""deal_coach.v1: stall-flag scenarios, the forecast on the Maven CRM opportunities, grounding of suggestions."""

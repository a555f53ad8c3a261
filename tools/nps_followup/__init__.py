"""What the NPS Follow-up agent decides without a model: routing by category, due dates, survey milestones."""

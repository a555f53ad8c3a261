"""Auto-labeling tools: taxonomy, rule labels (size band, buying role, engagement) and the text classifier."""

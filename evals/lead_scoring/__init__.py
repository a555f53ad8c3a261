"""lead_scoring.v1: any leads CSV through the CRM's own import, the scoring model against the naive-Bayes baseline."""

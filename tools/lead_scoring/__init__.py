"""Lead scoring: features from CRM leads, a calibrated LightGBM model, a naive-Bayes cold-start baseline."""

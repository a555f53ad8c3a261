"""health_monitor.v1: the health score on the IBM telco churn data, mapped onto the product's health signals."""

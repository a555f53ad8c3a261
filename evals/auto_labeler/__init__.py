"""auto_labeler.v1: industry from a company description (names masked), k-fold, and size band from head count."""

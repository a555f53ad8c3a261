"""Payment reminders: which overdue invoice gets which reminder today, to whom, in what words."""

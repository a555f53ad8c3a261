"""nps_followup.v1: the NPS Follow-up agent end to end on real app-store reviews imported as NPS answers."""

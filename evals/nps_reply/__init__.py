"""nps_reply.v1: real app-store reviews answered by the NPS follow-up drafter."""

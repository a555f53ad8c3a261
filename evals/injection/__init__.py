"""injection.v1: prompt-injection cases through the NPS follow-up drafter."""

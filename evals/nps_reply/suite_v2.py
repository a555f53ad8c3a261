"""`nps_reply.v2`: the same reviews, cases and checks as `nps_reply.v1`, answered by the prompt the NPS Follow-up
agent drafts with (`nps_followup.reply`: what it asks depends on the category).

A new id because the prompt under test changed (v1 runs stay comparable with v1 runs). Reviewed drafts of the
agent that a CSM adds from the inbox become cases of this suite (`core/services/eval_feedback.py`), and
promoting a version of `nps_followup.reply` is gated by it.
"""

from __future__ import annotations

from dataclasses import replace

from evals.nps_reply.suite import SUITE as V1

SUITE = replace(V1, suite_id="nps_reply.v2", prompt_id="nps_followup.reply",
                description="Real Google Play reviews (1-5 stars as NPS) answered by nps_followup.reply, the NPS "
                            "Follow-up agent's prompt; vendor reply as reference; reviewed drafts first.")

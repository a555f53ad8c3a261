"""Payment Reminders: overdue invoices get an escalating reminder to the customer's billing contact, each
reviewed by the account manager before it is sent; the final one also asks the account manager to call."""

from agents.payment_reminders.graph import agent_specs, build_graph

__all__ = ["agent_specs", "build_graph"]

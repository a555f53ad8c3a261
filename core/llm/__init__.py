"""Everything agents need to talk to a model: chat factory, structured output, embeddings, guards, ledger."""

"""Reference workloads: a small causal transformer LM on stdlib text, and a tiny MLP."""

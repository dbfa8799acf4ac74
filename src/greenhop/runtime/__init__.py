"""The live side: site agents, checkpoint transfer, and (later) the orchestrator."""

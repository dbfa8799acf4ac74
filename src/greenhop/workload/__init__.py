"""The SDK a PyTorch training loop uses to become migratable (imports only greenhop.core)."""

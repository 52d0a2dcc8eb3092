"""Quality reports of trained models (engines; the CLI only formats them)."""

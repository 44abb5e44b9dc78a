"""What every stage and command shares: params.yaml validated into typed objects (params), errors a user can fix
printed as one paragraph (errors), files written atomically and never over a user's own (files), and quiet,
terminal-aware output (logs)."""

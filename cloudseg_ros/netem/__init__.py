"""Network emulation for experiments: traces, namespaces, tc shaping, a delay/loss relay, runs."""

"""Evaluation of SR + segmentation on held-out scene frames (Table 1, Figure 5, Table 2)."""

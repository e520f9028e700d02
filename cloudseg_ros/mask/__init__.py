"""Masks on the downlink: lossless compression, restoring camera resolution, colouring."""

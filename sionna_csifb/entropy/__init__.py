"""Entropy-coded feedback: densities (rate models), integer tables, range coding, stored reports."""

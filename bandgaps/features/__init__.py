"""Features computed from compositions (and, later, structures)."""

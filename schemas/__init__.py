"""Message contracts: JSON Schemas per topic value, the Arrow schema of the archive, the shared codec."""

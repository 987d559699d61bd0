"""Use cases: load rows, call the core, write rows. They flush and never commit."""

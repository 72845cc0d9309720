"""Flow files (``flows/*.yaml``): schema, loading with file:line errors, checks."""

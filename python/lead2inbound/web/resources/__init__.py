"""HTTP resources, one module per resource."""

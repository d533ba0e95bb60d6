"""The government edge's REST routers, one module per resource."""

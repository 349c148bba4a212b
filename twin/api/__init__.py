"""HTTP layer: thin routers over plain service functions."""

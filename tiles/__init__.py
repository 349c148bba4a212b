"""geodata -> OGC 3D Tiles 1.1."""

"""Walks: A-to-B routes and circuits through points of interest, on foot or in a wheelchair
(:mod:`.route`, :mod:`.circuit`), on the walking network of :mod:`geodata.walk_network`."""

"""Embedded services the twin starts itself: a private PostGIS cluster and a Mosquitto broker."""

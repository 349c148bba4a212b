"""geodata -> OGC 3D Tiles 1.1: meshing, spatial tiling, GLB writing, incremental builds.

Modules, in the order data flows through them:

- :mod:`tiles.sources`: what each tileset reads (SQL per kind: buildings, network, furniture)
- :mod:`tiles.quadtree`: the large-first adaptive quadtree (which tile a feature goes to)
- :mod:`tiles.extrude`, :mod:`tiles.tubes`, :mod:`tiles.shapes`: meshes of buildings (LoD1
  extrusion, LoD2 faces), pipes (mitred tubes) and furniture/nodes (small generated models)
- :mod:`tiles.frames`: working CRS -> ECEF -> per-tile ENU frames, glTF y-up handling
- :mod:`tiles.gltf`, :mod:`tiles.metadata`, :mod:`tiles.mesh`: GLB writing with
  EXT_mesh_features, EXT_structural_metadata, EXT_mesh_gpu_instancing, KHR_mesh_quantization
- :mod:`tiles.content`: one tile's rows -> one GLB; :mod:`tiles.tileset`: tileset.json
- :mod:`tiles.build`: the streamed, parallel, incremental, atomic build driver
- :mod:`tiles.catalog`: built tilesets as the server sees them (listing, visibility, ETags)
- :mod:`tiles.inspect`: reading tilesets back and checking them structurally

Design choices, in short: refinement is ADD with the largest features highest (every feature
in exactly one tile, a truthful skyline first); tile contents are named by the hash of their
input rows, so a rebuild rewrites only tiles whose content changed and a swap of
tileset.json is atomic; explicit tileset.json (not implicit tiling: adaptive trees of a few
hundred to a few thousand tiles gain nothing from it). This package imports ``geodata`` only.
"""

"""geodata -> OGC 3D Tiles 1.1: meshing, spatial tiling, GLB writing, incremental builds.

Modules, in the order data flows through them:

- :mod:`tiles.kinds`: one module per kind of tileset (SQL, typed rows, options, content
  builder) behind :class:`tiles.kinds.base.TilesetKind`, registered in ``KINDS``
- :mod:`tiles.quadtree`: the large-first adaptive quadtree (which tile a feature goes to)
- :mod:`tiles.extrude`, :mod:`tiles.tubes`, :mod:`tiles.shapes`: meshes of buildings (LoD1
  extrusion, LoD2 faces), pipes (mitred tubes) and furniture/nodes (small generated models)
- :mod:`tiles.frames`: working CRS -> ECEF -> per-tile ENU frames, glTF y-up handling
- :mod:`tiles.gltf`, :mod:`tiles.metadata`, :mod:`tiles.mesh`: GLB writing with
  EXT_mesh_features, EXT_structural_metadata, EXT_mesh_gpu_instancing, KHR_mesh_quantization
- :mod:`tiles.tilework`: the content pass (rows streamed to a pool of worker processes);
  :mod:`tiles.tiletask`: one tile's rows, or a batch of tile patches, -> hash-named GLBs;
  :mod:`tiles.splice`: a tile's GLB edited in stored form (incremental builds);
  :mod:`tiles.tileset`: tileset.json; :mod:`tiles.publish`: the atomic swap
- :mod:`tiles.changes`, :mod:`tiles.members`: the change log and the feature-to-tile
  membership that make a rebuild proportional to the change
- :mod:`tiles.build`: the streamed, parallel, incremental, atomic build driver;
  :mod:`tiles.passes`: its full and incremental passes
- :mod:`tiles.layout`: on-disk names and the manifest (all that serving needs)
- :mod:`tiles.catalog`: built tilesets as the server sees them (listing, visibility, ETags)
- :mod:`tiles.inspect`: reading tilesets back and checking them structurally

Design choices, in short: refinement is ADD with the largest features highest (every feature
in exactly one tile, a truthful skyline first); tile contents are named by the hash of their
input, a rebuild reads only the rows the change log names and a swap of tileset.json is
atomic; explicit tileset.json (not implicit tiling: adaptive trees of a few
hundred to a few thousand tiles gain nothing from it). This package imports ``geodata`` only.
"""

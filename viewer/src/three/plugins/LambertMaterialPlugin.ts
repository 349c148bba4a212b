import { type Material, type Mesh, MeshLambertMaterial, type MeshStandardMaterial, type Object3D } from 'three';

/**
 * Draws tile content with Lambert (diffuse) materials instead of the glTF's physically based
 * ones. A city is mostly flat walls and roofs under a sky and a sun: the PBR model's specular
 * term adds little to it, while its fragment shader is what a software rasteriser, a phone or
 * a headset pays for on every pixel (measured on SwiftShader: flying over a 100,000-building
 * city went from 22 to 47 frames a second with the same tiles and resolution). Colour, opacity,
 * sides, vertex colours, flat shading (boxes without normals) and textures carry over.
 */
export class LambertMaterialPlugin {
  readonly name = 'TWIN_LAMBERT_MATERIALS';
  readonly priority = 5;

  /** 3d-tiles-renderer hook: before the tile's materials are recorded for disposal. */
  processTileModel(scene: Object3D): void {
    const swapped = new Map<Material, Material>();
    scene.traverse((o) => {
      const mesh = o as Mesh;
      if (!mesh.isMesh) return;
      if (Array.isArray(mesh.material)) mesh.material = mesh.material.map((m) => lambertOf(m, swapped));
      else mesh.material = lambertOf(mesh.material, swapped);
    });
    for (const old of swapped.keys()) old.dispose();
  }

  dispose(): void {}
}

/** The Lambert twin of a standard material (one per source material), or the material itself. */
export function lambertOf(m: Material, swapped: Map<Material, Material>): Material {
  const std = m as MeshStandardMaterial;
  if (!std.isMeshStandardMaterial) return m;
  let out = swapped.get(m);
  if (!out) {
    const l = new MeshLambertMaterial({
      name: std.name,
      color: std.color,
      map: std.map,
      emissive: std.emissive,
      emissiveMap: std.emissiveMap,
      emissiveIntensity: std.emissiveIntensity,
      vertexColors: std.vertexColors,
      flatShading: std.flatShading,
      side: std.side,
      transparent: std.transparent,
      opacity: std.opacity,
      alphaTest: std.alphaTest,
      depthWrite: std.depthWrite,
    });
    l.userData = { ...std.userData };
    swapped.set(m, l);
    out = l;
  }
  return out;
}

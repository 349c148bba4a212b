/**
 * What a ray hits among the visible tilesets and the pickable overlays: the first hit a person
 * would mean, skipping filtered-out features, invisible objects and translucent ground that
 * lets the ray through to what lies below (underground mode).
 */
import type { Group, Object3D, Raycaster, Scene, Vector3 } from 'three';
import { featureAt, type PickedFeature } from './FeatureData';
import type { TilesetLayer } from './TilesetLayer';

export interface PickResult {
  point: Vector3; // local frame
  feature: PickedFeature | null;
  layer: string | null;
  object: Object3D;
  /** the instance hit in an instanced mesh (live markers) */
  instanceId?: number;
}

export function pickAmong(
  raycaster: Raycaster,
  scene: Scene,
  layers: Map<string, TilesetLayer>,
  overlay: Group,
  filter?: (o: Object3D) => boolean,
): PickResult | null {
  raycaster.params.Line = { threshold: 0.6 };
  scene.updateMatrixWorld();
  const targets: Object3D[] = [];
  for (const l of layers.values()) if (l.tiles.group.visible) targets.push(l.tiles.group);
  for (const c of overlay.children) if (c.visible && c.userData.pickable) targets.push(c);
  const hits = raycaster.intersectObjects(targets, true);
  for (const hit of hits) {
    if (filter && !filter(hit.object)) continue;
    if (!isVisible(hit.object)) continue;
    const feature = featureAt(hit);
    const mat = (hit.object as { material?: { transparent?: boolean; opacity?: number } }).material;
    if (!feature && mat?.transparent && (mat.opacity ?? 1) < 0.99 && hit !== hits[hits.length - 1]) continue;
    const layer = layerOf(hit.object);
    if (feature && layer) {
      const l = layers.get(layer);
      if (l && !l.style.isShown(feature.props)) continue; // filtered out
    }
    if (!feature && mat?.opacity === 0) continue;
    return { point: hit.point.clone(), feature, layer, object: hit.object, instanceId: hit.instanceId };
  }
  return null;
}

/** The tileset layer an object belongs to (its group is named `tileset:NAME`), or null. */
export function layerOf(o: Object3D): string | null {
  let cur: Object3D | null = o;
  while (cur) {
    if (cur.name.startsWith('tileset:')) return cur.name.slice('tileset:'.length);
    cur = cur.parent;
  }
  return null;
}

function isVisible(o: Object3D): boolean {
  let cur: Object3D | null = o;
  while (cur) {
    if (!cur.visible) return false;
    cur = cur.parent;
  }
  return true;
}

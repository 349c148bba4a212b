/**
 * The part of the ground the camera sees, as a WGS 84 bbox [w, s, e, n]: the view's corner
 * rays (and its centre) met with the ground, rays at or above the horizon cut at a
 * maximum distance, so a low view across the city asks for what it can show, not the world.
 */
import { Raycaster, Vector2, Vector3 } from 'three';
import type { BBox } from '../core/LiveState';
import type { TwinViewer } from './TwinViewer';

export function viewFootprint(viewer: TwinViewer, maxDistance = 3000): BBox | null {
  if (!viewer.frame) return null;
  const ray = new Raycaster();
  const eye = viewer.camera.getWorldPosition(new Vector3());
  const pts: Vector3[] = [];
  for (const [x, y] of [[-1, -1], [1, -1], [1, 1], [-1, 1], [0, 0]]) {
    ray.setFromCamera(new Vector2(x, y), viewer.camera);
    const hit = viewer.groundAlong(ray.ray);
    if (hit && hit.distanceTo(eye) <= maxDistance) pts.push(hit);
    else pts.push(eye.clone().add(ray.ray.direction.clone().setY(0).normalize().multiplyScalar(maxDistance)));
  }
  pts.push(new Vector3(eye.x, viewer.groundY(eye.x, eye.z), eye.z));
  let w = Infinity;
  let s = Infinity;
  let e = -Infinity;
  let n = -Infinity;
  for (const p of pts) {
    const [lon, lat] = viewer.geodetic(p);
    w = Math.min(w, lon);
    e = Math.max(e, lon);
    s = Math.min(s, lat);
    n = Math.max(n, lat);
  }
  return [round6(w), round6(s), round6(e), round6(n)];
}

function round6(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}

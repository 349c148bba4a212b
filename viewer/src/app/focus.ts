import { Vector3 } from 'three';
import type { BuildingFeature } from '../core/BuildingSearch';
import { interiorPoint, outerRing } from '../core/Polygon';
import type { AppContext } from './AppContext';

/** Local point on the roof of a building, above a point surely inside its footprint. */
export function roofPoint(ctx: AppContext, f: BuildingFeature): Vector3 | null {
  const ring = outerRing(f.geometry);
  if (!ring.length) return null;
  const [lon, lat] = interiorPoint(ring);
  const base = Number(f.properties.base_z ?? 0);
  const height = Number(f.properties.height ?? 10);
  return ctx.viewer.local(lon, lat, base + height);
}

/** Fly so the building's roof is at the centre of the view, seen steeply from above. */
export function focusBuilding(ctx: AppContext, f: BuildingFeature, animate = true): Vector3 | null {
  const target = roofPoint(ctx, f);
  if (!target) return null;
  const d = Math.max(60, Number(f.properties.height ?? 10) * 3);
  const pos = target.clone().add(new Vector3(-0.25 * d, 0.9 * d, 0.35 * d));
  ctx.viewer.lookAt(pos, target, animate);
  return target;
}

/**
 * Less detail while the view slides fast: the camera's smoothed speed and a frame-time
 * feedback raise each layer's error target (StreamingPolicy.motionErrorTarget and
 * adaptDetailScale); both fall back to the resting target as soon as the camera stops.
 */
import { Vector3 } from 'three';
import { adaptDetailScale, motionErrorTarget } from '../core/StreamingPolicy';
import type { TilesetLayer } from './TilesetLayer';

export class MotionDetail {
  /** smoothed camera speed (m/s in the local frame) */
  speed = 0;
  /** frame-time feedback on the error target while moving */
  detailScale = 1;
  private readonly lastEye = new Vector3();

  /** The view cut to `eye`: no motion was seen on the way, start at rest. */
  cut(eye: Vector3): void {
    this.lastEye.copy(eye);
    this.speed = 0;
    this.detailScale = 1;
  }

  /** Set each layer's error target for this frame; true while some layer is off its rest. */
  update(eye: Vector3, dt: number, firstFrame: boolean, xr: boolean, frameMs: number, layers: Iterable<TilesetLayer>): boolean {
    const moved = !firstFrame && dt > 0 ? eye.distanceTo(this.lastEye) / dt : 0;
    this.lastEye.copy(eye);
    this.speed = xr ? 0 : 0.7 * this.speed + 0.3 * moved;
    if (this.speed < 0.5) this.speed = 0;
    this.detailScale = adaptDetailScale(this.detailScale, frameMs, this.speed > 0);
    let raised = false;
    for (const l of layers) {
      const target = motionErrorTarget(l.restErrorTarget, this.speed, eye.y) * this.detailScale;
      if (target !== l.tiles.errorTarget) l.tiles.errorTarget = target;
      if (target !== l.restErrorTarget) raised = true; // keep going until back at rest
    }
    return raised;
  }
}

/** Every layer at its resting error target (nothing raised for motion or slow frames). */
export function atRest(layers: Iterable<TilesetLayer>): boolean {
  for (const l of layers) if (l.tiles.errorTarget !== l.restErrorTarget) return false;
  return true;
}

/** A camera flight: position and target eased from where they were to where they go. */
import type { Vector3 } from 'three';

export class CameraFlight {
  private readonly t0 = performance.now();

  constructor(
    private readonly from: Vector3,
    private readonly to: Vector3,
    private readonly tFrom: Vector3,
    private readonly tTo: Vector3,
    private readonly ms = 700,
  ) {}

  /** Move `position` and `target` to this moment of the flight; true when it has landed. */
  step(position: Vector3, target: Vector3): boolean {
    const k = Math.min(1, (performance.now() - this.t0) / this.ms);
    const e = k < 0.5 ? 2 * k * k : 1 - (-2 * k + 2) ** 2 / 2;
    position.lerpVectors(this.from, this.to, e);
    target.lerpVectors(this.tFrom, this.tTo, e);
    return k >= 1;
  }
}

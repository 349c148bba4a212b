/**
 * Which camera the tiles refine for: in WebXR the XR camera with the per-eye resolution on
 * every frame (or tiles stop refining in the headset), else the desktop camera.
 */
import type { PerspectiveCamera, WebGLRenderer } from 'three';
import type { TilesetLayer } from './TilesetLayer';

export function updateTiles(renderer: WebGLRenderer, camera: PerspectiveCamera, layers: Iterable<TilesetLayer>, xr: boolean, uses: (name: string) => boolean): void {
  const xrCam = renderer.xr.getCamera();
  if (xr) renderer.xr.updateCamera(camera);
  for (const l of layers) {
    const t = l.tiles;
    if (xr) {
      if (!t.hasCamera(xrCam)) {
        t.deleteCamera(camera);
        t.setCamera(xrCam);
      }
      const left = xrCam.cameras[0];
      if (left) t.setResolution(xrCam, left.viewport.z, left.viewport.w);
    } else if (!t.hasCamera(camera)) {
      t.deleteCamera(xrCam);
      t.setCamera(camera);
      t.setResolutionFromRenderer(camera, renderer);
    }
    if (t.group.visible || uses(l.name)) t.update();
  }
}

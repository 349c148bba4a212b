/**
 * Before/after comparison in one canvas: a swipe (one viewport, two scissors) or side by side
 * (two viewports), each half drawing its own set of layers.
 */
import { type Camera, type Scene, Vector2, type WebGLRenderer } from 'three';
import type { TilesetLayer } from './TilesetLayer';

export type CompareMode = 'off' | 'swipe' | 'side';

export interface CompareState {
  mode: CompareMode;
  /** 0..1 position of the swipe line or the split */
  split: number;
  left: string[];
  right: string[];
}

/** Draw the two halves; the layers' visibility is as it was afterwards. */
export function renderCompare(r: WebGLRenderer, scene: Scene, camera: Camera, layers: Map<string, TilesetLayer>, c: CompareState): void {
  const size = r.getSize(new Vector2());
  const split = Math.round(size.x * c.split);
  const saved = new Map([...layers].map(([n, l]) => [n, l.tiles.group.visible]));
  const show = (names: string[], other: string[]) => {
    for (const n of other) layers.get(n)?.setVisible(false);
    for (const n of names) layers.get(n)?.setVisible(true);
  };
  r.setScissorTest(true);
  if (c.mode === 'swipe') {
    show(c.left, c.right);
    r.setViewport(0, 0, size.x, size.y);
    r.setScissor(0, 0, split, size.y);
    r.render(scene, camera);
    show(c.right, c.left);
    r.setScissor(split, 0, size.x - split, size.y);
    r.render(scene, camera);
  } else {
    const half = Math.floor(size.x / 2);
    show(c.left, c.right);
    r.setViewport(0, 0, half, size.y);
    r.setScissor(0, 0, half, size.y);
    r.render(scene, camera);
    show(c.right, c.left);
    r.setViewport(half, 0, size.x - half, size.y);
    r.setScissor(half, 0, size.x - half, size.y);
    r.render(scene, camera);
    r.setViewport(0, 0, size.x, size.y);
  }
  r.setScissorTest(false);
  for (const [n, v] of saved) layers.get(n)?.setVisible(v);
}

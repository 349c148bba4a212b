/** The scene's fixed parts: the sky, the lights and the map-style camera controls. */
import { AmbientLight, Color, DirectionalLight, HemisphereLight, type PerspectiveCamera, type Scene } from 'three';
import { MapControls } from 'three/examples/jsm/controls/MapControls.js';

export function addSkyAndLights(scene: Scene): void {
  scene.background = new Color('#cfe3f3');
  const hemi = new HemisphereLight('#ffffff', '#8d8a80', 1.6);
  const sun = new DirectionalLight('#fff6e5', 1.8);
  sun.position.set(-300, 600, 200);
  scene.add(hemi, sun, new AmbientLight('#ffffff', 0.25));
}

/** Pan, turn and zoom over the ground; arrow keys only while the view has focus (not while typing). */
export function mapControls(camera: PerspectiveCamera, canvas: HTMLCanvasElement): MapControls {
  const controls = new MapControls(camera, canvas);
  controls.enableDamping = true;
  controls.dampingFactor = 0.12;
  controls.screenSpacePanning = false;
  controls.maxDistance = 8000;
  controls.minDistance = 2;
  controls.maxPolarAngle = Math.PI * 0.92; // may look up from below (underground)
  controls.listenToKeyEvents(canvas as unknown as HTMLElement);
  controls.keyPanSpeed = 25;
  return controls;
}

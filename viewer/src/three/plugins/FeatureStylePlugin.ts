import type { TilesRenderer } from '3d-tiles-renderer';
import { BufferAttribute, Color, type Material, type Mesh, type Object3D, SRGBColorSpace } from 'three';
import type { FeatureStyle } from '../../core/Styling';
import { allRows, featureAttribute, type Props } from '../FeatureData';

/**
 * Colours each feature of every loaded tile from its EXT_structural_metadata row (vertex
 * colours, alpha 0 for hidden features), and re-colours loaded tiles when the style, the
 * selection, the filter or the opacity changes.
 */
const WHITE: [number, number, number] = [1, 1, 1];
const AMBER: [number, number, number] = [1, 0.85, 0.1];

export class FeatureStylePlugin {
  readonly name = 'TWIN_FEATURE_STYLE';
  readonly priority = 10;
  private tiles: TilesRenderer | null = null;
  private selected: number | null = null;
  /** features for which this returns false are not drawn (and not pickable) */
  private filter: ((p: Props) => boolean) | null = null;
  private opacity = 1;

  /** `null` keeps the colours the tiles were written with (materials), tinted on selection */
  constructor(private style: FeatureStyle | null) {}

  private readonly onLoad = (e: { scene: Object3D }) => this.apply(e.scene);

  init(tiles: TilesRenderer): void {
    this.tiles = tiles;
    tiles.addEventListener('load-model', this.onLoad);
  }

  setStyle(style: FeatureStyle | null): void {
    this.style = style;
    this.refresh();
  }

  setSelected(id: number | null): void {
    this.selected = id;
    this.refresh();
  }

  setFilter(filter: ((p: Props) => boolean) | null): void {
    this.filter = filter;
    this.refresh();
  }

  setOpacity(opacity: number): void {
    this.opacity = opacity;
    this.refresh();
  }

  isShown(props: Props): boolean {
    return !this.filter || this.filter(props);
  }

  refresh(): void {
    this.tiles?.forEachLoadedModel((scene) => this.apply(scene));
    this.tiles?.dispatchEvent({ type: 'needs-update' });
  }

  apply(scene: Object3D): void {
    const c = new Color();
    scene.traverse((o) => {
      const mesh = o as Mesh;
      if (!mesh.geometry) return;
      const rows = allRows(mesh);
      const ids = featureAttribute(mesh.geometry);
      if (!rows || !ids) return;
      const n = ids.count;
      const colors = new Float32Array(n * 4);
      // colour per feature once, then per vertex
      const perFeature = rows.map((row) => {
        const shown = this.isShown(row);
        const rgb = this.style ? this.style.color(row) : WHITE;
        c.setRGB(rgb[0], rgb[1], rgb[2], SRGBColorSpace);
        if (this.selected !== null && Number(row.id) === this.selected) {
          const hl = this.style?.highlight ?? AMBER;
          c.setRGB(hl[0], hl[1], hl[2], SRGBColorSpace);
        }
        return [c.r, c.g, c.b, shown ? 1 : 0];
      });
      for (let i = 0; i < n; i++) {
        const f = perFeature[ids.getX(i)] ?? [0.7, 0.7, 0.7, 1];
        colors.set(f, i * 4);
      }
      mesh.geometry.setAttribute('color', new BufferAttribute(colors, 4));
      const mats = (Array.isArray(mesh.material) ? mesh.material : [mesh.material]) as Array<Material & { color?: Color }>;
      for (const m of mats) {
        if (!m.userData.twinStyled) {
          m.userData.twinStyled = true;
          m.vertexColors = true;
          if (this.style) m.color?.setRGB(1, 1, 1);
        }
        const translucent = this.opacity < 1;
        m.alphaTest = translucent ? this.opacity * 0.5 : 0.5;
        m.transparent = translucent;
        m.opacity = this.opacity;
        m.depthWrite = !translucent;
        m.needsUpdate = true;
      }
    });
  }

  dispose(): void {
    this.tiles?.removeEventListener('load-model', this.onLoad);
    this.tiles = null;
  }
}

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
/** a vertex whose feature has no metadata row: light grey, shown */
const NO_ROW = [179, 179, 179, 255];

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

  /**
   * Colours one tile. Per-feature colours need the tile's metadata rows (a style by
   * attribute, a selection, a filter); a uniform style needs neither rows nor vertex colours,
   * only the material's colour, so the common case reads no metadata at all. Features are
   * hidden by alpha 0 and the alpha test, which only meshes with a hidden feature get: a
   * discarding fragment shader is slower on every pixel (software GL, phones).
   */
  apply(scene: Object3D): void {
    const c = new Color();
    const perFeatureColours = this.filter !== null || this.selected !== null || this.style?.attribute != null;
    scene.traverse((o) => {
      const mesh = o as Mesh;
      if (!mesh.geometry) return;
      const ids = featureAttribute(mesh.geometry);
      if (!ids) return;
      const rows = perFeatureColours ? allRows(mesh) : null;
      if (perFeatureColours && !rows) return;
      let hidden = false;
      if (rows) {
        // colour per feature once, then per vertex (normalised bytes, as glTF's COLOR_0)
        const perFeature = rows.map((row) => {
          const shown = this.isShown(row);
          hidden ||= !shown;
          const rgb = this.style ? this.style.color(row) : WHITE;
          c.setRGB(rgb[0], rgb[1], rgb[2], SRGBColorSpace);
          if (this.selected !== null && Number(row.id) === this.selected) {
            const hl = this.style?.highlight ?? AMBER;
            c.setRGB(hl[0], hl[1], hl[2], SRGBColorSpace);
          }
          return [c.r * 255, c.g * 255, c.b * 255, shown ? 255 : 0];
        });
        const n = ids.count;
        const colors = new Uint8Array(n * 4);
        for (let i = 0; i < n; i++) colors.set(perFeature[ids.getX(i)] ?? NO_ROW, i * 4);
        mesh.geometry.setAttribute('color', new BufferAttribute(colors, 4, true));
      } else if (mesh.geometry.getAttribute('color')) {
        mesh.geometry.deleteAttribute('color');
      }
      const mats = (Array.isArray(mesh.material) ? mesh.material : [mesh.material]) as Array<Material & { color?: Color }>;
      for (const m of mats) {
        // the tile's own colour, kept for a null style
        const own = (m.userData.twinOwnColor ??= m.color?.clone()) as Color | undefined;
        if (this.style && !rows) {
          const rgb = this.style.color({});
          m.color?.setRGB(rgb[0], rgb[1], rgb[2], SRGBColorSpace);
        } else if (this.style) m.color?.setRGB(1, 1, 1);
        else if (own) m.color?.copy(own);
        m.vertexColors = !!rows;
        const translucent = this.opacity < 1;
        m.alphaTest = translucent ? this.opacity * 0.5 : hidden ? 0.5 : 0;
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

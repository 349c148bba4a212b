/**
 * The buried networks (agent-only tilesets `network-*`), coloured by type, with the ground
 * and buildings made translucent so the pipes show at their real depth. Nothing is
 * requested unless the account may see agent layers.
 */
import { type FeatureStyle, NETWORK_COLORS, NETWORK_STYLE } from '../core/Styling';
import type { TilesetLayer } from '../three/TilesetLayer';
import type { AppContext } from './AppContext';

export const NETWORK_PREFIX = 'network-';

export class NetworkOverlay {
  readonly layers = new Map<string, TilesetLayer>();
  active = false;

  constructor(private readonly ctx: AppContext) {}

  /** Networks the catalogue offers this account (empty for anonymous users). */
  available(): string[] {
    return this.ctx.base.catalog
      .filter((e) => e.name.startsWith(NETWORK_PREFIX))
      .map((e) => e.name.slice(NETWORK_PREFIX.length));
  }

  async show(): Promise<string[]> {
    const { session, base, viewer } = this.ctx;
    if (!session.isAgent) throw new Error('underground networks need an agent account');
    this.active = true;
    await base.refreshCatalog();
    const nets = this.available();
    const loaded: string[] = [];
    await Promise.all(
      nets.map(async (n) => {
        const layer = base.addTileset(`${NETWORK_PREFIX}${n}`, NETWORK_STYLE, 4);
        this.layers.set(n, layer);
        try {
          await layer.ready;
          loaded.push(n);
        } catch {
          viewer.removeTileset(layer.name); // empty or not built: nothing to draw
          this.layers.delete(n);
        }
      }),
    );
    this.setTranslucent(true);
    return loaded.sort();
  }

  setTranslucent(on: boolean): void {
    const { base, viewer } = this.ctx;
    base.ground?.setOpacity(on ? 0.35 : 1);
    base.buildings?.style.setOpacity(on ? 0.3 : 1);
    viewer.invalidate();
  }

  setNetworkVisible(network: string, visible: boolean): void {
    this.layers.get(network)?.setVisible(visible);
    this.ctx.viewer.invalidate();
  }

  /** colour every network by this style (the network's own colours: NETWORK_STYLE) */
  setStyle(style: FeatureStyle): void {
    for (const l of this.layers.values()) l.style.setStyle(style);
    this.ctx.viewer.invalidate();
  }

  legend() {
    return [...this.layers.keys()].sort().map((n) => ({ label: n.replace(/_/g, ' '), color: NETWORK_COLORS[n] ?? [0.6, 0.6, 0.6] as [number, number, number] }));
  }

  hide(): void {
    for (const l of this.layers.values()) this.ctx.viewer.removeTileset(l.name);
    this.layers.clear();
    this.setTranslucent(false);
    this.active = false;
  }
}

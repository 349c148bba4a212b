import type { TilesRenderer } from '3d-tiles-renderer';

/**
 * Sends the session's bearer token with every tileset and tile request, so agent-only
 * tilesets load for agents and answer 401/403 for others.
 */
export class AuthHeadersPlugin {
  readonly name = 'TWIN_AUTH_HEADERS';
  readonly priority = -100;
  private tiles: TilesRenderer | null = null;

  constructor(private readonly headers: () => Record<string, string>) {}

  init(tiles: TilesRenderer): void {
    this.tiles = tiles;
    this.refresh();
  }

  /** Call after signing in or out. */
  refresh(): void {
    if (!this.tiles) return;
    this.tiles.fetchOptions = { ...this.tiles.fetchOptions, headers: this.headers() };
  }

  dispose(): void {
    this.tiles = null;
  }
}

import type { ApiClient } from '../core/ApiClient';
import type { Mode } from '../core/Mode';
import type { Session } from '../core/Session';
import type { PickResult, TwinViewer } from '../three/TwinViewer';
import type { XRController } from '../three/XRController';
import type { Shell } from '../ui/Shell';
import type { BaseScene } from './BaseScene';

/** What every mode gets: the server, the account, the 3D view, the page, the base scene. */
export interface AppContext {
  api: ApiClient;
  session: Session;
  viewer: TwinViewer;
  shell: Shell;
  base: BaseScene;
  xr: XRController;
  /** navigate to a hash route */
  go(hash: string): void;
}

/** A mode of this app: the core contract plus optional hooks the shell calls. */
export interface TwinMode extends Mode<AppContext> {
  /** a click/tap or controller select hit something; return true when handled */
  onPick?(ctx: AppContext, hit: PickResult | null): boolean;
  /** the account changed while this mode is active */
  onSession?(ctx: AppContext): void;
}
